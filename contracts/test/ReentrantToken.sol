// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

interface ISettle {
    function settle(bytes32[] calldata claimIds) external;
}

/// @title ReentrantToken
/// @notice Test-only hostile token: on every transfer it calls back into the claims manager
/// to settle the same claims again, and records whether that attempt succeeded.
contract ReentrantToken is ERC20 {
    ISettle public target;
    bytes32[] private _replay;
    bool public reentered;
    bool public reentrySucceeded;

    constructor() ERC20("Hostile", "HOST") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function arm(ISettle target_, bytes32[] calldata claimIds) external {
        target = target_;
        _replay = claimIds;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (address(target) != address(0) && from == address(target) && !reentered) {
            reentered = true;
            try target.settle(_replay) {
                reentrySucceeded = true;
            } catch {}
        }
    }
}
