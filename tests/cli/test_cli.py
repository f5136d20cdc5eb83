"""The command line's offline commands: keys, FHIR validation, CIDs."""

import json
import re
import stat

import click
import pytest
from click.testing import CliRunner

from carechain.cli import ADDRESS, DAYS, main
from carechain.keystore import load_key_pair
from carechain.samples import chart
from carechain.unixfs import compute_cid


def test_keys_generate_writes_a_private_file(tmp_path):
    """The key file is readable by its owner only, and loads back."""
    path = tmp_path / "alice.key"
    result = CliRunner().invoke(main, ["keys", "generate", str(path)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    pair = load_key_pair(path)
    assert pair.suite.name == "MLKEM768_X25519"
    assert pair.private_bytes().hex() not in result.output


def test_keys_generate_never_overwrites(tmp_path):
    path = tmp_path / "alice.key"
    runner = CliRunner()
    runner.invoke(main, ["keys", "generate", str(path), "--suite", "x25519"])
    before = path.read_text()
    result = runner.invoke(main, ["keys", "generate", str(path)])
    assert result.exit_code == 1
    assert "refusing to overwrite" in result.output
    assert path.read_text() == before


def test_fhir_validate_reports_valid_and_invalid(tmp_path):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(chart(1, "MRN-1")[2]))
    bad.write_text(json.dumps({"resourceType": "Observation", "status": "final"}))
    runner = CliRunner()
    ok = runner.invoke(main, ["fhir", "validate", str(good)])
    assert ok.exit_code == 0 and "valid Condition" in ok.output
    refused = runner.invoke(main, ["fhir", "validate", str(bad)])
    assert refused.exit_code == 1
    assert "error: invalid FHIR Observation: code: Field required" in refused.output


def test_cid_matches_the_library(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"x" * 5000)
    result = CliRunner().invoke(main, ["cid", str(path)])
    assert result.output.strip() == compute_cid(b"x" * 5000)


def test_every_mistake_is_one_line_and_exit_1(tmp_path):
    """Files that are not JSON, empty, binary or not UTF-8, and a folder where a file is
    expected: one line naming what was wrong, exit 1, no traceback; --debug shows it."""
    binary, latin, empty, text = (tmp_path / n for n in ("b.bin", "l.json", "e.json", "t.json"))
    binary.write_bytes(bytes(range(256)))
    latin.write_bytes('{"resourceType": "Patient", "id": "Zoë"}'.encode("latin-1"))
    empty.write_bytes(b"")
    text.write_text("resourceType: Patient")
    cases = {
        binary: "not JSON|not UTF-8",
        latin: "not JSON|not UTF-8",
        empty: "not JSON|empty",
        text: "not JSON",
        tmp_path: "is a folder",
    }
    runner = CliRunner()
    for path, expected in cases.items():
        result = runner.invoke(main, ["fhir", "validate", str(path)])
        assert result.exit_code == 1, (path, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output
        assert re.search(expected, lines[0]), lines[0]
        assert "Traceback" not in result.output and result.exception.__class__ is SystemExit
    debug = runner.invoke(main, ["--debug", "fhir", "validate", str(text)])
    assert debug.exit_code == 1 and not isinstance(debug.exception, SystemExit)
    usage = runner.invoke(main, ["fhir", "validate"])
    assert usage.exit_code == 2  # usage errors keep click's code


def test_a_key_file_others_can_read_is_used_with_a_warning(tmp_path, caplog):
    path = tmp_path / "alice.key"
    CliRunner().invoke(main, ["keys", "generate", str(path), "--suite", "x25519"])
    with caplog.at_level("WARNING", logger="carechain.keystore"):
        load_key_pair(path)
    assert not caplog.records  # 0600 as written
    path.chmod(0o644)
    with caplog.at_level("WARNING", logger="carechain.keystore"):
        pair = load_key_pair(path)
    assert pair.suite.name == "X25519"
    [warning] = caplog.records
    assert "other users" in warning.getMessage() and "chmod 600" in warning.getMessage()
    assert pair.private_bytes().hex() not in warning.getMessage()


def test_addresses_are_checked_and_checksummed():
    checksummed = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    assert ADDRESS.convert(checksummed.lower(), None, None) == checksummed
    assert ADDRESS.convert(checksummed, None, None) == checksummed
    typo = checksummed.replace("C5", "c5")
    with pytest.raises(click.BadParameter, match="EIP-55"):
        ADDRESS.convert(typo, None, None)


def test_periods_are_checked():
    assert DAYS.convert("30", None, None) == 30.0
    for bad in ("nan", "-1", "0", "1e9", "inf", "thirty"):
        with pytest.raises(click.BadParameter):
            DAYS.convert(bad, None, None)


def test_a_chain_that_is_not_running_gets_one_line_saying_what_to_do(tmp_path):
    """Nothing listens at the --rpc URL: one line naming the URL and what to do, exit 1."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed: nothing answers there
    url = f"http://127.0.0.1:{port}"
    result = CliRunner().invoke(main, ["whoami", "--rpc", url, "--account", "TEST::1"])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert f"no Ethereum node answers at {url}" in line and "make chain" in line
    # the command's --rpc held for the command only: this process talks to its own node again
    from carechain.onchain.rpc import current_url

    assert current_url() != url


def test_names_are_set_listed_and_removed_on_this_machine(tmp_path, monkeypatch):
    """`carechain names`: the address book the portal shows, in the data folder only."""
    monkeypatch.setenv("CARECHAIN_STATE_DIR", str(tmp_path))
    address = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    runner = CliRunner()
    done = runner.invoke(main, ["names", "set", address.lower(), "City Hospital"])
    assert done.exit_code == 0 and "shown as 'City Hospital'" in done.output
    assert runner.invoke(main, ["names", "list"]).output == f"{address}  City Hospital\n"
    assert (tmp_path / "names.json").stat().st_mode & 0o077 == 0
    assert runner.invoke(main, ["names", "remove", address]).exit_code == 0
    again = runner.invoke(main, ["names", "remove", address])
    assert again.exit_code == 1 and "has no name here" in again.output
    assert runner.invoke(main, ["names", "set", address, "x" * 41]).exit_code == 1


def test_every_option_of_every_command_says_what_it_is():
    """`--help` is where a newcomer looks: no option without a line of help."""
    import click

    def bare(command, path):
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from bare(sub, [*path, name])
            return
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden and not param.help:
                yield f"{' '.join(path)} {param.opts[0]}"

    assert list(bare(main, ["carechain"])) == []
