"""Who signs: `--account` names a local test account, a keystore file or an alias; anything
holding a key signs through the one Signer protocol; nothing else is accepted."""

import json

import pytest
from eth_account import Account

from carechain.errors import ConfigurationError
from carechain.onchain.signer import as_signer, load_account, local_test_account


def never_asked(prompt):
    raise AssertionError(f"asked for a passphrase: {prompt}")


def test_test_accounts_are_the_test_chains_funded_accounts(accounts):
    for n in (0, 3, 14):
        assert load_account(f"TEST::{n}", never_asked).address == accounts[n].address
        assert as_signer(accounts[n]).address == accounts[n].address  # Ape's, by its key
    with pytest.raises(ConfigurationError, match="TEST::<number>"):
        load_account("TEST::x", never_asked)


def test_a_keystore_opens_with_its_passphrase_only(tmp_path, monkeypatch):
    key = Account.create()
    path = tmp_path / "clinic.json"
    path.write_text(json.dumps(Account.encrypt(key.key, "right horse battery")))
    assert load_account(str(path), lambda _: "right horse battery").address == key.address
    with pytest.raises(ConfigurationError, match="wrong passphrase") as refused:
        load_account(str(path), lambda _: "wrong")
    assert key.key.hex() not in str(refused.value)  # the key never appears in an error
    # an alias is a keystore where Ape keeps accounts
    monkeypatch.setenv("APE_DATA_FOLDER", str(tmp_path))
    (tmp_path / "accounts").mkdir()
    path.rename(tmp_path / "accounts" / "clinic.json")
    assert load_account("clinic", lambda _: "right horse battery").address == key.address


def test_an_unknown_account_or_one_without_a_key_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("APE_DATA_FOLDER", str(tmp_path))
    with pytest.raises(ConfigurationError, match="no account 'nobody'"):
        load_account("nobody", never_asked)
    not_json = tmp_path / "key.txt"
    not_json.write_text("0x" + "11" * 32)
    with pytest.raises(ConfigurationError, match="not a keystore file"):
        load_account(str(not_json), never_asked)

    class HardwareWallet:
        address = local_test_account(1).address

    with pytest.raises(ConfigurationError, match="cannot sign with"):
        as_signer(HardwareWallet())
