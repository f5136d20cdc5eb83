#!/usr/bin/env bash
# Build geth (go-ethereum) for the consortium network (`make network`) into .tools/bin,
# offline-friendly: only Go modules, through Go's own module proxy; no prebuilt binary.
#   v1.13.15 is the last geth release that seals Clique (proof-of-authority) blocks; later
#   releases only follow a beacon chain. It needs an older Go than this machine's (a
#   dependency uses a linkname newer Go refuses); Go fetches that toolchain through the
#   module proxy. A few minutes the first time; Go's caches make later runs seconds.
set -euo pipefail

GETH_VERSION="v1.13.15"
GO_TOOLCHAIN="go1.22.12"
root="$(cd "$(dirname "$0")/.." && pwd)"
target="$root/.tools/bin/geth"

if [ -x "$target" ] && "$target" version 2>/dev/null | grep -q "Version: ${GETH_VERSION#v}-stable"; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<MSG
the consortium network needs geth ${GETH_VERSION} and could not build it: Go is not installed.
Install Go (>= 1.21) and run 'make network' again, or put geth ${GETH_VERSION} at ${target}.
MSG
  exit 1
fi
echo "building geth ${GETH_VERSION} from source (first time only, a few minutes)..."
mkdir -p "$root/.tools/bin"
GOBIN="$root/.tools/bin.tmp" GOTOOLCHAIN="$GO_TOOLCHAIN" GOFLAGS="-mod=mod -trimpath" \
  go install "github.com/ethereum/go-ethereum/cmd/geth@${GETH_VERSION}"
mv "$root/.tools/bin.tmp/geth" "$target"
rmdir "$root/.tools/bin.tmp"
echo "geth ready: $("$target" version | sed -n 2p)"
