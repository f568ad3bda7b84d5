#!/usr/bin/env bash
# Starts (or stops) the peer servers of `creditmeter load` on loopback only: redis-server on
# 127.0.0.1:6379 without persistence, and PostgreSQL (Debian's cluster "main", 15 on Debian
# 12) on 127.0.0.1:5432 with a role and a database `creditmeter`. Installs them with apt-get
# when missing. Needs root (or sudo). No systemd: the servers are started by hand.
#
#   scripts/peers.sh start    install when missing, start, create role and database, print how to reach them
#   scripts/peers.sh stop     stop both
#   scripts/peers.sh status   say whether each answers
set -euo pipefail

REDIS_PORT="${CREDITMETER_REDIS_PORT:-6379}"
PG_PORT=5432
PG_USER=creditmeter
PG_PASSWORD=creditmeter
PG_DATABASE=creditmeter
REDIS_PIDFILE=/tmp/creditmeter-redis.pid

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "peers.sh: needs root or sudo for: $*" >&2; exit 1; fi
}

apt_install() {
    # apt-get update only when a first attempt cannot find the package.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 || {
        as_root apt-get update -q >/dev/null
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
    }
}

pg_version() {
    ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1
}

redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

pg_up() {
    local version; version="$(pg_version)"
    [ -n "$version" ] && pg_lsclusters -h 2>/dev/null | awk -v v="$version" '$1 == v && $2 == "main" {print $4}' | grep -q online
}

start_redis() {
    if ! command -v redis-server >/dev/null; then
        echo "installing redis-server (apt-get)"
        apt_install redis-server
    fi
    if redis_up; then
        echo "redis: already answering on 127.0.0.1:$REDIS_PORT"
        return
    fi
    # Loopback only, no snapshots, no append-only file: the harness's data is throwaway.
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
        --pidfile "$REDIS_PIDFILE" --logfile /tmp/creditmeter-redis.log
    for _ in $(seq 1 50); do redis_up && break; sleep 0.1; done
    redis_up || { echo "peers.sh: redis-server did not start (see /tmp/creditmeter-redis.log)" >&2; exit 1; }
    echo "redis: started on 127.0.0.1:$REDIS_PORT"
}

start_postgres() {
    if [ -z "$(pg_version)" ]; then
        echo "installing postgresql (apt-get)"
        apt_install postgresql
    fi
    local version; version="$(pg_version)"
    if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main"' | grep -q .; then
        as_root pg_createcluster "$version" main >/dev/null
    fi
    # Loopback only (Debian's default is localhost already; say it explicitly), in a file of
    # our own in the cluster's conf.d, which Debian's postgresql.conf includes.
    local conf="/etc/postgresql/$version/main/conf.d/creditmeter.conf"
    printf "listen_addresses = '127.0.0.1'\nport = %s\n" "$PG_PORT" | as_root tee "$conf" >/dev/null
    if pg_up; then
        echo "postgres: cluster $version/main already online"
    else
        as_root pg_ctlcluster "$version" main start
        echo "postgres: started cluster $version/main on 127.0.0.1:$PG_PORT"
    fi
    local psql=(as_root su postgres -c)
    if ! "${psql[@]}" "psql -p $PG_PORT -tAc \"SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'\"" | grep -q 1; then
        "${psql[@]}" "psql -p $PG_PORT -qc \"CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD'\""
    fi
    if ! "${psql[@]}" "psql -p $PG_PORT -tAc \"SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'\"" | grep -q 1; then
        "${psql[@]}" "psql -p $PG_PORT -qc \"CREATE DATABASE $PG_DATABASE OWNER $PG_USER\""
    fi
}

case "${1:-}" in
start)
    start_redis
    start_postgres
    cat <<MSG

creditmeter load reaches them with its defaults (no flags needed):
  redis:    127.0.0.1:$REDIS_PORT                                          (--redis, or CREDITMETER_REDIS)
  postgres: postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DATABASE  (--postgres, or CREDITMETER_POSTGRES)
for example:
  .build/release/creditmeter load --profile mixed --targets mutex,floor,redis,postgres --duration 5
stop them with: scripts/peers.sh stop
MSG
    ;;
stop)
    if redis_up; then
        redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
        echo "redis: stopped"
    else
        echo "redis: not running"
    fi
    if pg_up; then
        as_root pg_ctlcluster "$(pg_version)" main stop
        echo "postgres: stopped"
    else
        echo "postgres: not running"
    fi
    ;;
status)
    redis_up && echo "redis: answering on 127.0.0.1:$REDIS_PORT" || echo "redis: not answering"
    pg_up && echo "postgres: cluster $(pg_version)/main online" || echo "postgres: not online"
    ;;
*)
    echo "usage: scripts/peers.sh start|stop|status" >&2
    exit 2
    ;;
esac
