#!/usr/bin/env bash
# Run a command with Segment's JavaScript clients ready for tests/clients: Node.js, the npm packages pinned in
# tests/clients/js/package-lock.json (`npm ci`), and @segment/analytics-next bundled by esbuild into one file
# (tests/clients/js/build/analytics-next.js) that the browser test serves to Chromium.
#
# - Node.js and npm are installed from Debian packages (apt-get, as root or with password-less sudo) when missing.
# - `npm ci` runs when node_modules is missing or older than the lockfile; the bundle is rebuilt when older than
#   the lockfile or its entry file. Install scripts are not run (esbuild's binary comes in its platform package).
# - PERTINENT_TEST_NODE is exported with node's path. If anything cannot be had, PERTINENT_TEST_NODE_CLIENTS_SKIP
#   is set to the reason: the client tests then show as skipped with it (never silently passed).
set -uo pipefail

log() { echo "[ensure-node-clients] $*" >&2; }
HARNESS="$(cd "$(dirname "$0")/.." && pwd)/tests/clients/js"
SKIP=""
ORIGIN="$PWD"

install_node() {
  local apt=(apt-get) pkgs=()
  command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
  command -v npm >/dev/null 2>&1 || pkgs+=(npm)
  [ ${#pkgs[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then apt=(sudo apt-get); else
      SKIP="${pkgs[*]} not installed and this user cannot install Debian packages"; return 1
    fi
  fi
  command -v apt-get >/dev/null || { SKIP="${pkgs[*]} not installed and apt-get is not available"; return 1; }
  log "installing Debian's ${pkgs[*]}"
  "${apt[@]}" update -qq >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null 2>&1 \
    || { SKIP="apt-get install ${pkgs[*]} failed"; return 1; }
}

prepare() {
  install_node || return 1
  cd "$HARNESS" || { SKIP="no $HARNESS"; return 1; }
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "npm ci in tests/clients/js"
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2 || { SKIP="npm ci in tests/clients/js failed"; return 1; }
  fi
  local bundle=build/analytics-next.js
  if [ ! -f "$bundle" ] || [ package-lock.json -nt "$bundle" ] || [ analytics-next-entry.js -nt "$bundle" ]; then
    log "bundling @segment/analytics-next with esbuild"
    node_modules/.bin/esbuild analytics-next-entry.js --bundle --format=iife --platform=browser --target=es2020 \
      --minify --log-level=warning --outfile="$bundle" >&2 || { SKIP="esbuild could not bundle @segment/analytics-next"; return 1; }
  fi
}

if [ -z "${PERTINENT_TEST_NODE_CLIENTS_SKIP:-}" ]; then
  if prepare; then
    export PERTINENT_TEST_NODE="$(command -v node)"
    log "node $("$PERTINENT_TEST_NODE" --version) at $PERTINENT_TEST_NODE; clients in tests/clients/js"
  else
    log "JavaScript client tests will be skipped: $SKIP"
    export PERTINENT_TEST_NODE_CLIENTS_SKIP="$SKIP"
  fi
fi

cd "$ORIGIN" || exit 1
"$@"
