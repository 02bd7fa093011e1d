#!/usr/bin/env bash
# Run a command with PHP's command line available for the WordPress plugin test (examples/wordpress/pertinent.php
# rendered with a stand-in for WordPress's functions, then loaded in Chromium).
#
# - PHP found: PERTINENT_TEST_PHP is exported with its path.
# - Otherwise it is installed from Debian packages (php-cli, as root or with password-less sudo); if that is not
#   possible PERTINENT_TEST_PHP_SKIP is set to the reason and the test shows as skipped with it.
set -uo pipefail

log() { echo "[ensure-php] $*" >&2; }

PHP_SKIP=""
if [ -z "${PERTINENT_TEST_PHP:-}" ]; then
  if ! command -v php >/dev/null 2>&1; then
    apt=(apt-get)
    if [ "$(id -u)" != "0" ]; then
      if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then apt=(sudo apt-get); else apt=(); fi
    fi
    if [ ${#apt[@]} -eq 0 ] || ! command -v apt-get >/dev/null; then
      PHP_SKIP="php is not installed and this user cannot install Debian packages"
    else
      log "php not found; installing Debian's php-cli package"
      "${apt[@]}" update -qq >/dev/null 2>&1
      DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends php-cli >/dev/null 2>&1 \
        || PHP_SKIP="apt-get install php-cli failed"
    fi
  fi
  if [ -z "$PHP_SKIP" ] && command -v php >/dev/null 2>&1; then
    export PERTINENT_TEST_PHP="$(command -v php)"
    log "$(php --version | head -n 1)"
  else
    [ -n "$PHP_SKIP" ] || PHP_SKIP="php not found after installing it"
    log "the WordPress plugin test will be skipped: $PHP_SKIP"
    export PERTINENT_TEST_PHP_SKIP="$PHP_SKIP"
  fi
fi

"$@"
