"""What tests share besides fixtures (tests/conftest.py): ids, units, contract deployments for
the contract-level tests, a claim submitted end to end, a FHIR resource written with exact
decimals, and keeping anvil's clock on the wall clock."""

import secrets
import time

from carechain.model import ARBITRATOR_ROLE, AUDITOR_ROLE, INSURER_ROLE, PROVIDER_ROLE
from carechain.samples import chart

USD = 10**6  # the test stablecoin has 6 decimals
DAY = 86400


#: An Observation whose decimals a JSON round trip would change (0.40 -> 0.4).
EXACT_OBSERVATION = """{"resourceType": "Observation", "id": "k1", "status": "final",
 "code": {"text": "Potassium"}, "effectiveDateTime": "2026-11-20T10:00:00+00:00",
 "valueQuantity": {"value": 0.40, "unit": "mmol/L"},
 "referenceRange": [{"low": {"value": 0.001530}, "high": {"value": 12500.00}}]}"""


def random_id() -> bytes:
    """A fresh 32-byte id, as the SDK makes them."""
    return secrets.token_bytes(32)


def follow_the_wall_clock(chain) -> None:
    """anvil rewinds its clock when Ape's isolation reverts a snapshot (the next block carries
    the snapshot's time however long the test ran), so over a session the chain falls minutes
    behind the wall clock, and just after midnight UTC a service date of today is "in the
    future" on-chain. Put the next block back on the wall clock."""
    now = int(time.time())
    if now > int(chain.blocks.head.timestamp) + 1:
        chain.provider.make_request("evm_setNextBlockTimestamp", [now])


def deploy_registry(project, governor, *providers):
    """A RecordRegistry with ``providers`` admitted."""
    contract = project.RecordRegistry.deploy(governor, sender=governor)
    for provider in providers:
        contract.grantRole(PROVIDER_ROLE, provider, sender=governor)
    return contract


def deploy_consent(project, registry, governor, auditor):
    """A ConsentManager reading records and roles from ``registry``; one auditor admitted."""
    registry.grantRole(AUDITOR_ROLE, auditor, sender=governor)
    return project.ConsentManager.deploy(registry, sender=governor)


def deploy_claims(project, registry, consent, stablecoin, governor, insurer, arbitrator):
    """A ClaimsManager paying in ``stablecoin``; ``insurer`` (holding 1,000,000 tokens,
    approved to the manager) and ``arbitrator`` admitted."""
    registry.grantRole(INSURER_ROLE, insurer, sender=governor)
    registry.grantRole(ARBITRATOR_ROLE, arbitrator, sender=governor)
    manager = project.ClaimsManager.deploy(registry, consent, stablecoin, sender=governor)
    stablecoin.mint(insurer, 1_000_000 * 10**6, sender=governor)
    stablecoin.approve(manager, 2**256 - 1, sender=insurer)
    return manager


def claim_for(
    hospital_client, patient_client, insurer_client, policy_id, refs, amount, code, evidence=1
):
    """Submit a one-item FHIR Claim for ``code`` citing a fresh record of the kind of
    ``refs[evidence]`` (an Encounter by default: covered by the ``covered`` policy;
    ``refs[2]`` is a Condition, which is not). Fresh, because a record backs at most one
    claim: each visit billed has its own record."""
    [visit] = hospital_client.anchor_records(
        [(patient_client.address, chart(secrets.randbelow(10**9), "MRN-41")[evidence])],
    )
    return hospital_client.bill(
        policy_id,
        insurer_client.address,
        patient_client.address,
        [(code, "Office visit", amount)],
        [visit.record_id],
    )


class LimitedRpc:
    """A loopback JSON-RPC proxy in front of a node that enforces what hosted providers
    enforce on ``eth_getLogs``: at most ``max_blocks`` blocks per query and ``max_results``
    logs per answer, refused in their own words. Everything else passes through. ``ranges``
    records every ``eth_getLogs`` range asked, answered or not."""

    def __init__(self, upstream: str, max_blocks: int = 2_000, max_results: int = 10_000):
        self.upstream = upstream
        self.max_blocks = max_blocks
        self.max_results = max_results
        self.ranges: list[tuple[int, int]] = []
        self.refused = 0

    def _call(self, client, request: dict) -> dict:
        return client.post(self.upstream, json=request).json()

    def _logs(self, client, request: dict) -> dict:
        query = dict(request["params"][0])
        for key in ("fromBlock", "toBlock"):
            if query.get(key, "latest") == "latest":
                head = self._call(client, {"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber"})
                query[key] = head["result"]
        low, high = int(query["fromBlock"], 16), int(query["toBlock"], 16)
        self.ranges.append((low, high))
        refusal = None
        if high - low + 1 > self.max_blocks:
            refusal = f"query exceeds max block range {self.max_blocks}"
        else:
            reply = self._call(client, {**request, "params": [query]})
            if len(reply.get("result") or []) > self.max_results:
                refusal = f"query returned more than {self.max_results} results"
        if refusal:
            self.refused += 1
            return {"jsonrpc": "2.0", "id": request.get("id"),
                    "error": {"code": -32005, "message": refusal}}  # fmt: skip
        return reply

    def __enter__(self) -> "LimitedRpc":
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        import httpx

        proxy = self
        client = httpx.Client(timeout=60)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                requests = body if isinstance(body, list) else [body]
                answers = [
                    proxy._logs(client, r) if r.get("method") == "eth_getLogs"
                    else proxy._call(client, r)
                    for r in requests
                ]  # fmt: skip
                payload = json.dumps(answers if isinstance(body, list) else answers[0]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._client = client
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()
