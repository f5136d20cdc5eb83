"""Governance: the governor admits and removes providers, insurers and auditors."""

import ape
import pytest

from carechain.model import AUDITOR_ROLE, INSURER_ROLE, PROVIDER_ROLE


@pytest.mark.parametrize("role", [PROVIDER_ROLE, INSURER_ROLE, AUDITOR_ROLE])
def test_governor_admits_and_removes_each_role(registry, governor, stranger, role):
    """Admission and removal are evented and reflected by hasRole."""
    tx = registry.grantRole(role, stranger, sender=governor)
    granted = tx.decode_logs(registry.RoleGranted)
    assert [(bytes(e.role), e.account) for e in granted] == [(role, stranger.address)]
    assert registry.hasRole(role, stranger)

    tx = registry.revokeRole(role, stranger, sender=governor)
    assert len(tx.decode_logs(registry.RoleRevoked)) == 1
    assert not registry.hasRole(role, stranger)


def test_only_the_governor_admits(registry, hospital, stranger):
    """A provider cannot admit anyone, not even another provider."""
    with ape.reverts(registry.AccessControlUnauthorizedAccount):
        registry.grantRole(PROVIDER_ROLE, stranger, sender=hospital)
    assert not registry.hasRole(PROVIDER_ROLE, stranger)


def test_admitting_the_zero_address_is_refused(registry, governor):
    """A mistyped admission fails loudly instead of granting nothing."""
    with ape.reverts(registry.ZeroAddress):
        registry.grantRole(PROVIDER_ROLE, "0x" + "00" * 20, sender=governor)


def test_zero_governor_is_refused(project, governor):
    """A registry without a governor could never admit anyone."""
    with ape.reverts(project.RecordRegistry.AccessControlInvalidDefaultAdmin):
        project.RecordRegistry.deploy("0x" + "00" * 20, sender=governor)


def test_the_governor_role_moves_only_in_two_steps_with_a_delay(
    registry, governor, stranger, chain
):
    """A stolen or mistyped hand-over cannot take effect at once: it is started, visible and
    cancellable for ADMIN_TRANSFER_DELAY, then accepted by the new governor."""
    with ape.reverts(registry.AccessControlEnforcedDefaultAdminRules):
        registry.grantRole(b"\x00" * 32, stranger, sender=governor)
    registry.beginDefaultAdminTransfer(stranger, sender=governor)
    with ape.reverts(registry.AccessControlEnforcedDefaultAdminDelay):
        registry.acceptDefaultAdminTransfer(sender=stranger)
    assert registry.defaultAdmin() == governor.address
    chain.mine(timestamp=chain.blocks.head.timestamp + registry.ADMIN_TRANSFER_DELAY() + 1)
    registry.acceptDefaultAdminTransfer(sender=stranger)
    assert registry.defaultAdmin() == stranger.address
    assert not registry.hasRole(b"\x00" * 32, governor)


def test_providers_get_stable_compact_ids(registry, governor, hospital, other_hospital, stranger):
    """Ids are assigned once, in admission order, and survive removal and re-admission."""
    assert registry.providerId(hospital) == 1
    assert registry.providerId(other_hospital) == 2
    assert registry.providerAddress(2) == other_hospital.address

    tx = registry.grantRole(PROVIDER_ROLE, stranger, sender=governor)
    [event] = tx.decode_logs(registry.ProviderRegistered)
    assert (event.account, event.providerId) == (stranger.address, 3)

    registry.revokeRole(PROVIDER_ROLE, hospital, sender=governor)
    tx = registry.grantRole(PROVIDER_ROLE, hospital, sender=governor)
    assert tx.decode_logs(registry.ProviderRegistered) == []
    assert registry.providerId(hospital) == 1


def test_removed_provider_can_no_longer_anchor(registry, governor, hospital, patient):
    """Removal takes effect at once for writes."""
    registry.revokeRole(PROVIDER_ROLE, hospital, sender=governor)
    with ape.reverts(registry.AccessControlUnauthorizedAccount, account=hospital.address):
        registry.anchor(b"\x01" * 32, patient, 2, b"\x02" * 32, sender=hospital)
