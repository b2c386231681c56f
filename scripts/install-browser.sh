#!/bin/sh
# Makes a Chromium available to the Playwright tests: Debian's package where apt
# is available (Playwright's own download is not needed there), else Playwright's.
set -e
if [ -x /usr/lib/chromium/chromium ] || [ -n "$PLAYWRIGHT_CHROMIUM" ]; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" = "0" ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
else
    python -m playwright install chromium
fi
