// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// A deliberately broken vault for tests/test_static_analysis.py: withdraw() pays out
/// before it clears the balance (reentrancy, a High finding Slither must report).
contract Vault {
    mapping(address => uint256) public balances;

    function deposit() external payable {
        balances[msg.sender] += msg.value;
    }

    function withdraw() external {
        uint256 amount = balances[msg.sender];
        (bool ok,) = msg.sender.call{value: amount}("");
        require(ok, "transfer failed");
        balances[msg.sender] = 0;
    }
}
