import secrets
def cd(data): return sum(16 if b else 4 for b in data)
def test_gas(registry, hospital, patient, chain):
    tx = registry.anchor(secrets.token_bytes(32), patient, 3, secrets.token_bytes(32), sender=hospital)
    t = chain.provider.web3.eth.get_transaction(tx.txn_hash)
    print("single", tx.gas_used, "calldata", cd(bytes(t["input"])), "exec", tx.gas_used - 21000 - cd(bytes(t["input"])))
    batch = [(secrets.token_bytes(32), patient, 3, secrets.token_bytes(32)) for _ in range(100)]
    tx = registry.anchorBatch(batch, sender=hospital)
    t = chain.provider.web3.eth.get_transaction(tx.txn_hash)
    print("batch100", tx.gas_used, tx.gas_used / 100, "calldata/rec", cd(bytes(t["input"]))/100)
