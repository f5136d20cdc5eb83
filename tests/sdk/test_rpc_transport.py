"""The JSON-RPC transport: a node behind basic auth (``https://user:password@host/…``, as
some hosted and self-run nodes are) gets its credentials as a header, and they never show
in what the user reads; a node that is down, or answers with something that is not
JSON-RPC, gets an error that says so."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from carechain.errors import ChainUnavailableError
from carechain.onchain import Node


class _Endpoint(BaseHTTPRequestHandler):
    """Answers eth_chainId; records each request's Authorization header."""

    seen: ClassVar[list[str | None]] = []
    status = 200

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(self.headers.get("Authorization"))
        if type(self).status != 200:
            reply = b"<html>bad gateway</html>"
        else:
            reply = json.dumps({"jsonrpc": "2.0", "id": body["id"], "result": "0x539"}).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    _Endpoint.seen, _Endpoint.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_credentials_in_the_url_are_sent_as_basic_auth_and_never_shown(endpoint):
    node = Node(f"http://carechain:s3cret@127.0.0.1:{endpoint}/rpc")
    assert node.chain_id == 1337
    assert _Endpoint.seen == ["Basic Y2FyZWNoYWluOnMzY3JldA=="]  # carechain:s3cret
    assert "s3cret" not in node.url and "s3cret" not in repr(node)
    _Endpoint.status = 502
    with pytest.raises(ChainUnavailableError) as refused:
        node.request("eth_blockNumber")
    assert "answered HTTP 502" in str(refused.value) and "s3cret" not in str(refused.value)


def test_a_node_that_is_down_is_named_with_what_to_do():
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    node = Node(f"http://carechain:s3cret@127.0.0.1:{port}")  # nothing listens there
    with pytest.raises(ChainUnavailableError) as down:
        node.request("eth_blockNumber")
    message = str(down.value)
    assert f"no Ethereum node answers at http://127.0.0.1:{port}" in message
    assert "make chain" in message and "s3cret" not in message


def test_a_node_address_without_a_scheme_is_taken_as_http(endpoint, recwarn):
    """`--rpc 127.0.0.1:8545`, as people type it: no warning, the node answers."""
    node = Node(f"127.0.0.1:{endpoint}")
    assert node.url == f"http://127.0.0.1:{endpoint}"
    assert node.chain_id == 1337
    assert not [w for w in recwarn if "scheme" in str(w.message).lower()]


def test_a_file_that_is_not_a_key_file_says_what_one_is(tmp_path):
    from carechain.errors import ConfigurationError
    from carechain.keystore import load_key_pair

    record = tmp_path / "record.json"
    record.write_text('{"resourceType": "Observation"}')
    with pytest.raises(ConfigurationError) as refused:
        load_key_pair(record)
    message = str(refused.value)
    assert "is not a carechain key file" in message and "carechain keys generate" in message
    assert "'suite'" not in message
