#!/bin/sh
# Installs the Python analytics clients that cannot share the test virtualenv, for tests/clients/python:
# analytics-python 1.4 (Segment's old package) ships the `analytics` and `segment.analytics` modules and pins
# backoff==1.10, which clash with segment-analytics-python 2.x and rudder-sdk-python (both in the dev extras).
# It goes into its own target directory (gitignored), run by the tests in a subprocess with PYTHONPATH set to it.
# A failure is not fatal: the test reports the client as skipped, with the reason.
# Usage: scripts/install-python-clients.sh [python]
set -u
PY="${1:-python3}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="$ROOT/.clients/analytics-python-1.4"
if [ -f "$TARGET/.installed" ]; then
    exit 0
fi
rm -rf "$TARGET"
mkdir -p "$TARGET"
if "$PY" -m pip --disable-pip-version-check install -q --no-warn-conflicts --target "$TARGET" "analytics-python==1.4.post1"; then
    touch "$TARGET/.installed"
else
    echo "install-python-clients: analytics-python 1.4 could not be installed; its test will be skipped" >&2
    rm -rf "$TARGET"
fi
exit 0
