#!/usr/bin/env bash
# Make Chromium available to the portal's browser tests (tests/portal), offline-friendly:
#   1. a `chromium` already on PATH is used as it is (nothing is done);
#   2. else Debian's `chromium` package is installed with apt-get (as root, or through
#      sudo without a password).
# Playwright drives this system browser through its executable path; nothing ever runs
# `playwright install`, so no browser build is downloaded.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  cat >&2 <<MSG
carechain's browser tests need Chromium and this machine has no apt-get to install it.
Install Chromium with your system's package manager so that 'chromium' is on PATH, then run
'make test' again.
MSG
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  cat >&2 <<MSG
carechain's browser tests need Chromium: run 'sudo apt-get install chromium' (Debian's
package; Playwright drives it, no browser is downloaded), then 'make test' again.
MSG
  exit 1
fi

echo "installing Debian's chromium package for the portal's browser tests..."
export DEBIAN_FRONTEND=noninteractive
if ! "${as_root[@]}" apt-get install -y chromium >/dev/null 2>&1; then
  # a fresh machine has no package lists yet
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y chromium
fi
command -v chromium >/dev/null 2>&1 || { echo "chromium did not install" >&2; exit 1; }
echo "Chromium ready: $(chromium --version 2>/dev/null || echo chromium)"
