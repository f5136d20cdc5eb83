// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// Does not compile (a missing semicolon): tests/test_static_analysis.py.
contract Broken {
    uint256 x = 1
}
