#!/usr/bin/env bash
# Make a Kubo (`ipfs`) executable available to carechain, offline-friendly:
#   1. an `ipfs` already on PATH is used as it is;
#   2. else the pinned release is built from source with Go into .tools/bin (a few
#      minutes the first time; Go's module and build caches make later runs instant).
# No prebuilt binary is downloaded: only Go modules, through Go's own module proxy.
set -euo pipefail

KUBO_VERSION="v0.39.0"
# Kubo 0.39 pulls in cockroachdb/swiss, which does not build with Go >= 1.26; Go fetches
# this toolchain through the module proxy when the installed one is newer.
GO_TOOLCHAIN="go1.25.4"
root="$(cd "$(dirname "$0")/.." && pwd)"
target="$root/.tools/bin/ipfs"

if [ -x "$target" ] && "$target" version 2>/dev/null | grep -q "${KUBO_VERSION#v}"; then
  exit 0
fi
if existing="$(command -v ipfs 2>/dev/null)" && [ "$existing" != "$target" ]; then
  echo "using Kubo from PATH: $existing ($("$existing" version))"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<MSG
carechain needs Kubo (the 'ipfs' command) and could not build it: Go is not installed.
Either install Go (>= 1.21) and run 'make setup' again, or install Kubo ${KUBO_VERSION}
yourself and put 'ipfs' on PATH (or set CARECHAIN_KUBO_BINARY to its path).
MSG
  exit 1
fi

echo "building Kubo ${KUBO_VERSION} from source (first time only, a few minutes)..."
mkdir -p "$root/.tools/bin"
# `go install pkg@version` also asks the proxy for the module's version list, which some
# proxies refuse; downloading the exact version and building inside it avoids that call.
moddir="$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "github.com/ipfs/kubo@${KUBO_VERSION}" \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [ -z "$moddir" ] || [ ! -d "$moddir" ]; then
  echo "could not download github.com/ipfs/kubo@${KUBO_VERSION} through the Go module proxy" >&2
  exit 1
fi
(cd "$moddir" && GOTOOLCHAIN="$GO_TOOLCHAIN" GOFLAGS=-buildvcs=false \
  go build -trimpath -o "$target.tmp" ./cmd/ipfs)
mv "$target.tmp" "$target"
echo "Kubo ready: $("$target" version)"
