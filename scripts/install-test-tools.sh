#!/bin/sh
# Makes the test suite's tools available: a Chromium for the Playwright tests and
# a redis-server for the Redis backend's tests (they start their own on a free
# loopback port, unless TUNING_TEST_REDIS_URL names one). Debian's packages where
# apt is available; elsewhere Playwright's own Chromium, and redis-server from
# the system's package manager.
set -e
need=""
if [ ! -x /usr/lib/chromium/chromium ] && [ -z "$PLAYWRIGHT_CHROMIUM" ]; then
    need="chromium"
fi
if ! command -v redis-server >/dev/null 2>&1 && [ -z "$TUNING_TEST_REDIS_URL" ]; then
    need="$need redis-server"
fi
if [ -z "$need" ]; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" = "0" ] || SUDO="sudo"
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086  # one word per package
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need >/dev/null
    exit 0
fi
case "$need" in
    *chromium*) python -m playwright install chromium ;;
esac
case "$need" in
    *redis-server*)
        echo "no apt here: install redis-server with the system's package manager," \
             "or set TUNING_TEST_REDIS_URL to a Redis the tests may use" >&2
        exit 1 ;;
esac
