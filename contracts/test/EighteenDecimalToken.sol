// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title EighteenDecimalToken
/// @notice Test-only stablecoin with 18 decimals (as DAI has), which carechain refuses:
/// its amounts are 64-bit token units, so a claim could not exceed 18.4 tokens.
contract EighteenDecimalToken is ERC20 {
    constructor() ERC20("Eighteen", "E18") {}
}
