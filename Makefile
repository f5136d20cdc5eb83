# carechain: `make demo` and `make test` are the two commands; each sets up what it needs.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APE := $(VENV)/bin/ape
SOLC_VERSION := 0.8.30

export PATH := $(CURDIR)/.tools/bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export SOLCX_BINARY_PATH := $(CURDIR)/.tools/solcx
# Ape and its plugins must never reach out for compilers or plugin updates.
export APE_DISABLE_VERSION_CHECK := 1

.PHONY: all setup browser demo portal test test-fork testnet testnet-stop network network-stop network-demo lint analyze coverage format compile chain bench clean

all: test

## setup: Python venv, npm tools, the solc launcher, Kubo, geth (for the consortium network),
## compiled contracts (idempotent)
setup: $(VENV)/.installed node_modules/.installed .tools/.linked .tools/bin/ipfs .tools/bin/geth .build/.compiled

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# anvil, cast and forge are native binaries inside their npm platform packages; link them (and
# the solcjs launcher under the name py-solc-x looks for) into .tools.
.tools/.linked: node_modules/.installed tools/solc.cjs tools/anvil.sh
	mkdir -p .tools/bin .tools/solcx
	ln -sf ../../tools/anvil.sh .tools/bin/anvil  # anvil that persists no old states (see it)
	ln -sf ../../node_modules/@foundry-rs/cast-linux-amd64/bin/cast .tools/bin/cast
	ln -sf ../../node_modules/@foundry-rs/forge-linux-amd64/bin/forge .tools/bin/forge
	ln -sf ../../tools/solc.cjs .tools/solcx/solc-v$(SOLC_VERSION)
	touch $@

.tools/bin/ipfs: tools/install-kubo.sh
	bash tools/install-kubo.sh
	test -x $@ || { mkdir -p .tools/bin && ln -sf "$$(command -v ipfs)" $@; }

.tools/bin/geth: tools/install-geth.sh
	bash tools/install-geth.sh

.build/.compiled: $(wildcard contracts/*.sol contracts/*/*.sol) ape-config.yaml .tools/.linked $(VENV)/.installed
	@mkdir -p .build && echo "compiling the contracts (solc; log: .build/compile.log)"
	@$(APE) compile --force > .build/compile.log 2>&1 || { cat .build/compile.log; exit 1; }
	$(PY) tools/export_abis.py
	touch $@

compile: .build/.compiled

## browser: Debian's Chromium for the portal's browser tests (skipped when it is installed)
browser:
	@bash tools/install-chromium.sh

## demo: the end-to-end scenario on a local anvil and a local Kubo node
demo: setup
	$(APE) run demo --network ethereum:local:foundry -v WARNING

## portal: a first look at the web portal: a local chain, Kubo, demo data, and the portals
##         of a patient, a clinician and an insurer (their addresses printed), until Ctrl-C
portal: setup
	$(APE) run portal --network ethereum:local:foundry -v WARNING

## test: lint, static analysis, contract coverage (the Forge tests), every test (contracts,
## crypto, IPFS, end to end, the portal in Chromium), then the fork suite
test: setup browser lint analyze coverage
	$(APE) test --network ethereum:local:foundry -m "not fork"
	$(MAKE) --no-print-directory test-fork

## test-fork: the fork suite on ethereum:sepolia-fork:foundry. Forks SEPOLIA_RPC_URL if set;
## otherwise forks the local "testnet" (starting, deploying and seeding it if it is not up,
## and stopping it after if it was not).
test-fork: setup
	@if [ -n "$$SEPOLIA_RPC_URL" ]; then \
	  $(APE) test tests/fork -m fork --network ethereum:sepolia-fork:foundry; \
	else \
	  was_up=$$($(PY) tools/testnet.py url >/dev/null 2>&1 && echo yes); \
	  $(PY) tools/testnet.py up || exit 1; \
	  SEPOLIA_RPC_URL=$$($(PY) tools/testnet.py url) \
	    $(APE) test tests/fork -m fork --network ethereum:sepolia-fork:foundry; \
	  status=$$?; [ -n "$$was_up" ] || $(PY) tools/testnet.py down; exit $$status; \
	fi

## testnet: start the local stand-in for Sepolia (chain id 11155111), deployed and seeded
testnet: setup
	$(PY) tools/testnet.py up

testnet-stop:
	$(PY) tools/testnet.py down

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src scripts tests bench tools
	$(VENV)/bin/ruff format --check src scripts tests bench tools

## analyze: Slither on contracts/; fails on a High or Medium finding not accepted, with a
## reason, in tools/slither-triage.toml
analyze: $(VENV)/.installed node_modules/.installed
	$(PY) tools/static_analysis.py

## coverage: the Forge tests (tests/forge) under forge coverage; fails if one fails or a
## contract covers < 100% of its branches
coverage: setup
	$(PY) tools/contract_coverage.py

format: $(VENV)/.installed
	$(VENV)/bin/ruff format src scripts tests bench tools
	$(VENV)/bin/ruff check --fix src scripts tests bench tools

## chain: a long-lived local anvil for the CLI (state kept in .carechain/); then
##        carechain ... --account TEST::0 (talks to http://127.0.0.1:8545 unless --rpc says otherwise)
chain: setup
	mkdir -p .carechain
	@if $(VENV)/bin/python -c "import socket; socket.create_connection(('127.0.0.1', 8545), 1)" 2>/dev/null; then \
	  echo "a chain already answers on http://127.0.0.1:8545: use it as it is (to stop the one make chain started: kill its anvil; its state stays in .carechain/anvil-state.json)"; \
	  exit 0; fi; \
	echo "anvil on http://127.0.0.1:8545 (chain id 1337), 20 funded TEST accounts; its log: .carechain/anvil.log"; \
	anvil --host 127.0.0.1 --port 8545 --chain-id 1337 --accounts 20 \
	  --state .carechain/anvil-state.json > .carechain/anvil.log 2>&1

## network: the consortium network on loopback: one geth Clique sealer and one Kubo node per
## member (MEMBERS=3: two hospitals and an insurer), contracts deployed, members admitted
MEMBERS ?= 3
network: setup
	$(VENV)/bin/carechain network up --members $(MEMBERS)

network-stop:
	$(VENV)/bin/carechain network down

## network-demo: the consortium story (starts the network first if it is not up)
network-demo: network
	$(PY) scripts/network_demo.py

## bench: gas and speed numbers (printed and written to bench/results/)
bench: setup
	$(PY) bench/gas.py
	$(PY) bench/paths.py
	$(PY) bench/claims.py
	$(PY) bench/cli.py
	$(PY) bench/network.py
	$(PY) bench/devices.py
	$(PY) bench/scale.py
	$(PY) bench/summary.py

clean:
	rm -rf .build contracts/.cache .carechain
