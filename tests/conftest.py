"""Shared fixtures: named accounts, freshly deployed contracts, a real Kubo node."""

import pytest

from carechain import (
    Category,
    Contracts,
    Hospital,
    Insurer,
    KemSuite,
    KeyPair,
    KuboNode,
    Patient,
    Purpose,
    Scope,
    deploy,
)
from carechain.samples import chart
from tests.helpers import (
    DAY,
    USD,
    deploy_claims,
    deploy_consent,
    deploy_registry,
    follow_the_wall_clock,
)


@pytest.fixture(autouse=True, scope="module")
def _module_on_the_wall_clock(chain):
    """Before a module's shared fixtures are built."""
    follow_the_wall_clock(chain)


@pytest.fixture(autouse=True)
def _test_on_the_wall_clock(chain):
    follow_the_wall_clock(chain)


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
def second_patient(accounts):
    return accounts[5]


@pytest.fixture(scope="session")
def guardian(accounts):
    return accounts[6]


@pytest.fixture(scope="session")
def auditor(accounts):
    return accounts[7]


@pytest.fixture(scope="session")
def doctor(accounts):
    """A clinician at another hospital, who reads with the patient's consent."""
    return accounts[8]


# ---------------------------------------------------------------- contracts, bare


@pytest.fixture
def registry(project, governor, hospital, other_hospital):
    """A RecordRegistry with two admitted providers."""
    return deploy_registry(project, governor, hospital, other_hospital)


@pytest.fixture
def consent(project, registry, governor, auditor):
    """A ConsentManager over ``registry``; one auditor admitted."""
    return deploy_consent(project, registry, governor, auditor)


@pytest.fixture(scope="session")
def insurer(accounts):
    return accounts[9]


@pytest.fixture(scope="session")
def arbitrator(accounts):
    return accounts[10]


@pytest.fixture
def stablecoin(project, governor):
    return project.MockStablecoin.deploy(sender=governor)


@pytest.fixture
def claims(project, registry, consent, stablecoin, governor, insurer, arbitrator):
    """A ClaimsManager over ``registry`` and ``consent``, paying in a 6-decimal stablecoin;
    one insurer (holding 1,000,000 tokens) and one arbitrator admitted."""
    return deploy_claims(project, registry, consent, stablecoin, governor, insurer, arbitrator)


@pytest.fixture
def key_directory(project, governor):
    return project.KeyDirectory.deploy(sender=governor)


# ---------------------------------------------------------------- IPFS and the SDK


@pytest.fixture(scope="session")
def kubo(tmp_path_factory):
    """A real, private, loopback-only Kubo node for the whole session."""
    with KuboNode(tmp_path_factory.mktemp("kubo")) as node:
        yield node


@pytest.fixture(scope="session")
def ipfs(kubo):
    return kubo.client


@pytest.fixture
def contracts(governor, hospital):
    """A fresh carechain deployment with the hospital admitted as a provider."""
    deployed = Contracts(deploy(governor))
    deployed.registry.admit(governor, "provider", hospital)
    return deployed


@pytest.fixture
def hospital_client(hospital, contracts, ipfs):
    client = Hospital(hospital, contracts, ipfs, KeyPair.generate())
    client.publish_key()
    return client


@pytest.fixture
def patient_client(patient, contracts, ipfs):
    client = Patient(patient, contracts, ipfs, KeyPair.generate(KemSuite.MLKEM768_X25519))
    client.publish_key()
    return client


@pytest.fixture
def doctor_client(doctor, contracts, ipfs):
    """A clinician at another hospital (any address can be granted; no role needed to read)."""
    client = Hospital(doctor, contracts, ipfs, KeyPair.generate())
    client.publish_key()
    return client


@pytest.fixture
def cli_env(tmp_path, monkeypatch, contracts, kubo):
    """The deployment file and IPFS endpoint the CLI reads, as a user would set them."""
    contracts.deployment.save(tmp_path)
    monkeypatch.setenv("CARECHAIN_DEPLOYMENTS_DIR", str(tmp_path))
    monkeypatch.setenv("CARECHAIN_IPFS_API", kubo.api_url)
    return tmp_path


# ---------------------------------------------------------------- claims through the SDK


@pytest.fixture
def insurer_client(insurer, governor, contracts, ipfs):
    contracts.registry.admit(governor, "insurer", insurer)
    client = Insurer(insurer, contracts, ipfs, KeyPair.generate())
    client.publish_key()
    contracts.claims.token.mint(insurer, 1_000_000 * USD, sender=governor)
    client.fund_escrow(100_000 * USD)
    return client


@pytest.fixture
def covered(hospital_client, patient_client, insurer_client, chain):
    """A policy, the patient's chart, and payment consent for the insurer."""
    now = chain.blocks.head.timestamp
    policy_id = insurer_client.issue_policy(
        patient_client.address,
        limit=5_000 * USD,
        deductible=100 * USD,
        copay_bps=1_000,
        covered={Category.OBSERVATION, Category.ENCOUNTER},
        start=now - DAY,
        end=now + 365 * DAY,
        auto_approve_below=200 * USD,
    )
    refs = hospital_client.anchor_records(
        [(patient_client.address, r) for r in chart(41, "MRN-41")]
    )
    patient_client.grant_access(
        insurer_client.address, Scope.all(), Purpose.PAYMENT, now + 365 * DAY
    )
    # the hospital's care relationship: it bills only for records it may read for treatment
    patient_client.grant_access(
        hospital_client.address, Scope.all(), Purpose.TREATMENT, now + 365 * DAY, share_keys=False
    )
    return policy_id, refs
