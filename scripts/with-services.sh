#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL server and Redis server for the test suite.
#
# - If PERTINENT_TEST_POSTGRES_URL is already set, it is used as is.
# - Otherwise PostgreSQL is installed from Debian packages when missing, a fresh cluster is
#   created in a temporary directory, started on a free loopback port, and removed afterwards.
# - If it cannot start, PERTINENT_TEST_POSTGRES_SKIP is set to the reason: the PostgreSQL tests
#   then show as skipped with that reason (never silently passed).
# - Redis likewise: PERTINENT_TEST_REDIS_URL is used as is when set; otherwise Debian's redis-server is
#   installed when missing and started on a free loopback port with no persistence, and stopped afterwards;
#   PERTINENT_TEST_REDIS_SKIP carries the reason when it cannot start.
set -uo pipefail

log() { echo "[with-services] $*" >&2; }

as_postgres() {
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

find_pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

start_postgres() {
  local bin
  if ! bin=$(find_pg_bin); then
    log "PostgreSQL not found; installing Debian's postgresql package"
    if [ "$(id -u)" = "0" ]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
        || { PG_SKIP="apt-get install postgresql failed"; return 1; }
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      (sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
        || { PG_SKIP="sudo apt-get install postgresql failed"; return 1; }
    else
      PG_SKIP="PostgreSQL is not installed and this user cannot install Debian packages"; return 1
    fi
    bin=$(find_pg_bin) || { PG_SKIP="initdb not found after installing postgresql"; return 1; }
  fi
  if [ "$(id -u)" = "0" ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home /var/lib/postgresql postgres || { PG_SKIP="cannot create postgres user"; return 1; }
  fi
  PG_DIR=$(mktemp -d /tmp/pertinent-pg.XXXXXX)
  chmod 755 "$PG_DIR"
  [ "$(id -u)" = "0" ] && chown postgres "$PG_DIR"
  PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  as_postgres "$bin/initdb" -D "$PG_DIR/data" -U pertinent --auth=trust -E UTF8 >"$PG_DIR/initdb.log" 2>&1 \
    || { PG_SKIP="initdb failed: $(tail -n 3 "$PG_DIR/initdb.log" | tr '\n' ' ')"; return 1; }
  as_postgres "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c max_connections=200" start >/dev/null \
    || { PG_SKIP="pg_ctl start failed: $(tail -n 3 "$PG_DIR/server.log" | tr '\n' ' ')"; return 1; }
  PG_BIN=$bin
  as_postgres "$bin/createdb" -h 127.0.0.1 -p "$PG_PORT" -U pertinent pertinent_test \
    || { PG_SKIP="createdb failed"; return 1; }
  export PERTINENT_TEST_POSTGRES_URL="postgresql+psycopg://pertinent@127.0.0.1:$PG_PORT/pertinent_test"
  log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT"
}

stop_postgres() {
  if [ -n "${PG_BIN:-}" ]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  [ -n "${PG_DIR:-}" ] && rm -rf "$PG_DIR"
}

PG_SKIP=""
if [ -z "${PERTINENT_TEST_POSTGRES_URL:-}" ]; then
  PG_STARTED=1
  if ! start_postgres; then
    log "PostgreSQL tests will be skipped: $PG_SKIP"
    export PERTINENT_TEST_POSTGRES_SKIP="$PG_SKIP"
  fi
fi

start_redis() {
  if ! command -v redis-server >/dev/null 2>&1; then
    log "redis-server not found; installing Debian's redis-server package"
    local sudo=""
    [ "$(id -u)" = "0" ] || sudo="sudo"
    ($sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null) \
      || { REDIS_SKIP="apt-get install redis-server failed"; return 1; }
  fi
  REDIS_DIR=$(mktemp -d /tmp/pertinent-redis.XXXXXX)
  REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$REDIS_DIR" \
    --daemonize yes --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" >/dev/null 2>&1 \
    || { REDIS_SKIP="redis-server failed to start: $(tail -n 3 "$REDIS_DIR/redis.log" 2>/dev/null | tr '\n' ' ')"; return 1; }
  for _ in $(seq 1 50); do
    if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
      export PERTINENT_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
      log "Redis $(redis-server --version | awk '{print $3}' | cut -d= -f2) on 127.0.0.1:$REDIS_PORT"
      return 0
    fi
    sleep 0.1
  done
  REDIS_SKIP="redis-server did not answer PING: $(tail -n 3 "$REDIS_DIR/redis.log" 2>/dev/null | tr '\n' ' ')"
  return 1
}

stop_redis() {
  if [ -n "${REDIS_DIR:-}" ] && [ -f "$REDIS_DIR/redis.pid" ]; then
    kill "$(cat "$REDIS_DIR/redis.pid")" >/dev/null 2>&1 || true
  fi
  [ -n "${REDIS_DIR:-}" ] && rm -rf "$REDIS_DIR"
}

cleanup() {
  [ -n "${PG_STARTED:-}" ] && stop_postgres
  [ -n "${REDIS_STARTED:-}" ] && stop_redis
  return 0
}
trap cleanup EXIT

REDIS_SKIP=""
if [ -z "${PERTINENT_TEST_REDIS_URL:-}" ]; then
  REDIS_STARTED=1
  if ! start_redis; then
    log "Redis tests will be skipped: $REDIS_SKIP"
    export PERTINENT_TEST_REDIS_SKIP="$REDIS_SKIP"
  fi
fi

"$@"
