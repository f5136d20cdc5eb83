// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Base} from "./Base.sol";
import {IAccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";
import {PROVIDER_ROLE} from "../../contracts/Common.sol";

/// The governor's role cannot move in one step: a hand-over is started, waits
/// ADMIN_TRANSFER_DELAY (visible on-chain, cancellable), and is accepted by the new governor.
contract GovernanceAttacksTest is Base {
    address internal newGovernor = address(0x61);

    function test_attack14a_handing_the_governor_role_over_in_one_step_is_refused() public {
        vm.startPrank(governor);
        vm.expectRevert(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminRules.selector);
        registry.grantRole(0x00, stranger);
        vm.expectRevert(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminRules.selector);
        registry.revokeRole(0x00, governor);
        registry.beginDefaultAdminTransfer(newGovernor);
        vm.stopPrank();
        uint256 due = block.timestamp + registry.ADMIN_TRANSFER_DELAY();
        vm.expectRevert(abi.encodeWithSelector(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminDelay.selector, due));
        vm.prank(newGovernor);
        registry.acceptDefaultAdminTransfer();
        // the old governor still governs meanwhile, and can cancel
        vm.prank(governor);
        registry.grantRole(PROVIDER_ROLE, stranger);
        vm.warp(due + 1);
        vm.prank(newGovernor);
        registry.acceptDefaultAdminTransfer();
        vm.assertEq(registry.defaultAdmin(), newGovernor);
        vm.assertFalse(registry.hasRole(0x00, governor));
    }
}
