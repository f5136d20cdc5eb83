// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title BlacklistToken
/// @notice Test-only 6-decimal stablecoin that, like USDC and USDT, refuses transfers to or
/// from blacklisted addresses.
contract BlacklistToken is ERC20 {
    mapping(address account => bool listed) public blacklisted;

    error Blacklisted(address account);

    constructor() ERC20("Blacklisting USD", "BUSD") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setBlacklisted(address account, bool listed) external {
        blacklisted[account] = listed;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (blacklisted[from]) revert Blacklisted(from);
        if (blacklisted[to]) revert Blacklisted(to);
        super._update(from, to, value);
    }
}
