#!/bin/sh
# The browser tests (JupyterLab widgets, HTML reports) drive Debian's Chromium through
# Playwright; Playwright's own browser download does not work offline. Install it once.
set -e
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the browser tests" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    exit 0
fi
echo "the browser tests need Chromium: run 'sudo apt-get install chromium' (Debian/Ubuntu)" >&2
exit 1
