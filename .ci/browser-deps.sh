#!/usr/bin/env bash
# Install Debian's Chromium for tests/test_browser.py (Playwright drives it via executable_path;
# Playwright's own browser download is not used). Idempotent: does nothing when it is present.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
/usr/bin/chromium --version
