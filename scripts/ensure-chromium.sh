#!/usr/bin/env bash
# Run a command with Debian's Chromium available for the browser tests (Playwright drives it through its
# executable path; no browser download).
#
# - PERTINENT_TEST_CHROMIUM, when set, names the browser to use, as is.
# - Otherwise Chromium is looked up, and installed from Debian packages (apt-get, as root or with
#   password-less sudo) when missing; PERTINENT_TEST_CHROMIUM is exported with its path.
# - If it cannot be had, PERTINENT_TEST_CHROMIUM_SKIP is set to the reason: the browser tests then show as
#   skipped with that reason (never silently passed).
set -uo pipefail

log() { echo "[ensure-chromium] $*" >&2; }

find_chromium() {
  local c
  for c in chromium chromium-browser; do
    command -v "$c" >/dev/null 2>&1 && { command -v "$c"; return 0; }
  done
  [ -x /usr/lib/chromium/chromium ] && { echo /usr/lib/chromium/chromium; return 0; }
  return 1
}

install_chromium() {
  local apt=(apt-get)
  if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then apt=(sudo apt-get); else
      CHROMIUM_SKIP="Chromium is not installed and this user cannot install Debian packages"; return 1
    fi
  fi
  command -v apt-get >/dev/null || { CHROMIUM_SKIP="Chromium is not installed and apt-get is not available"; return 1; }
  log "Chromium not found; installing Debian's chromium package"
  "${apt[@]}" update -qq >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends chromium fonts-liberation \
    >/dev/null 2>&1 || { CHROMIUM_SKIP="apt-get install chromium failed"; return 1; }
}

CHROMIUM_SKIP=""
if [ -z "${PERTINENT_TEST_CHROMIUM:-}" ]; then
  if ! path=$(find_chromium); then
    install_chromium && path=$(find_chromium) || { [ -n "$CHROMIUM_SKIP" ] || CHROMIUM_SKIP="chromium not found after installing it"; }
  fi
  if [ -z "$CHROMIUM_SKIP" ]; then
    export PERTINENT_TEST_CHROMIUM="$path"
    log "$("$path" --version 2>/dev/null | head -n 1) at $path"
  else
    log "browser tests will be skipped: $CHROMIUM_SKIP"
    export PERTINENT_TEST_CHROMIUM_SKIP="$CHROMIUM_SKIP"
  fi
fi

"$@"
