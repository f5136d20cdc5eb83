#!/usr/bin/env bash
# anvil from npm, without writing old block states to disk. By default anvil keeps recent
# states in memory and writes every older one to ~/.foundry/anvil/tmp (megabytes per block,
# left behind when the process is killed): one test session wrote ~5 GB there, and a few
# thousand mined blocks filled this machine's disk. Nothing in carechain reads state older
# than anvil's in-memory window, so none is persisted. A caller may pass --prune-history N
# instead (at most N states in memory, none on disk; anvil refuses both flags together):
# bench/scale.py does, since with a large state the in-memory window alone grew to gigabytes.
here="$(cd "$(dirname "$(readlink -f "$0")")" && pwd)"
keep=(--max-persisted-states 0)
for arg in "$@"; do
  [ "$arg" = "--prune-history" ] && keep=()
done
exec "$here/../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil" "${keep[@]}" "$@"
