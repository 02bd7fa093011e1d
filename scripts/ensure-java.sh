#!/usr/bin/env bash
# Run a command with a Java runtime available for the Spark tests (pyspark starts a JVM in local mode).
#
# - When `java` (or $JAVA_HOME/bin/java) is found, nothing is installed.
# - Otherwise Debian's default-jre-headless is installed (apt-get, as root or with password-less sudo).
# - If it cannot be had, PERTINENT_TEST_JAVA_SKIP is set to the reason: the Spark tests then show as skipped with
#   that reason (never silently passed).
set -uo pipefail

log() { echo "[ensure-java] $*" >&2; }

have_java() {
  { [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; } || command -v java >/dev/null 2>&1
}

JAVA_SKIP=""
if ! have_java; then
  apt=(apt-get)
  if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then apt=(sudo apt-get); else
      JAVA_SKIP="java is not installed and this user cannot install Debian packages"
    fi
  fi
  if [ -z "$JAVA_SKIP" ] && ! command -v apt-get >/dev/null; then
    JAVA_SKIP="java is not installed and apt-get is not available"
  fi
  if [ -z "$JAVA_SKIP" ]; then
    log "java not found; installing Debian's default-jre-headless"
    "${apt[@]}" update -qq >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq --no-install-recommends default-jre-headless \
      >/dev/null 2>&1 || JAVA_SKIP="apt-get install default-jre-headless failed"
  fi
  [ -n "$JAVA_SKIP" ] || have_java || JAVA_SKIP="java not found after installing default-jre-headless"
fi
if [ -z "$JAVA_SKIP" ]; then
  log "$(java -version 2>&1 | head -n 1)"
else
  log "Spark tests will be skipped: $JAVA_SKIP"
  export PERTINENT_TEST_JAVA_SKIP="$JAVA_SKIP"
fi

"$@"
