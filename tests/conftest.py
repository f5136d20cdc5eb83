"""Shared fixtures: named accounts and freshly deployed contracts on the test chain."""

import secrets

import pytest


@pytest.fixture(scope="session")
def governor(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def hospital(accounts):
    return accounts[1]


@pytest.fixture(scope="session")
def other_hospital(accounts):
    return accounts[2]


@pytest.fixture(scope="session")
def patient(accounts):
    return accounts[3]


@pytest.fixture(scope="session")
def stranger(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def insurer(accounts):
    return accounts[5]


@pytest.fixture
def registry(project, governor, hospital, other_hospital):
    contract = project.RecordRegistry.deploy(governor, sender=governor)
    provider_role = contract.roles()[0]
    contract.grantRole(provider_role, hospital, sender=governor)
    contract.grantRole(provider_role, other_hospital, sender=governor)
    return contract


@pytest.fixture
def key_directory(project, governor):
    return project.KeyDirectory.deploy(sender=governor)


def random_id() -> bytes:
    """A fresh 32-byte id, as the SDK makes them."""
    return secrets.token_bytes(32)
