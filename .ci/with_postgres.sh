#!/usr/bin/env bash
# Runs a command with a Postgres the tests must use: the one answering at
# KAGZI_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres) when it answers,
# else a private PostgreSQL 15 started here (initdb + pg_ctl in a temp dir on a free port,
# installed with apt-get when missing) and stopped on exit. Exports KAGZI_TEST_POSTGRES_URL and
# KAGZI_TEST_BACKENDS=embedded,postgres, so a Postgres test can fail but never be skipped.
#   usage: .ci/with_postgres.sh deno task test
set -euo pipefail

url="${KAGZI_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
pgbin="${KAGZI_PG_BIN:-/usr/lib/postgresql/15/bin}"

# "host port" of a postgres:// URL (user@host:port/db).
host_port() {
  local rest="${1#*://}"
  rest="${rest#*@}"
  rest="${rest%%/*}"
  local host="${rest%%:*}" port=5432
  [ "$rest" != "$host" ] && port="${rest##*:}"
  echo "$host $port"
}

answers() {
  local hp
  read -r -a hp <<<"$(host_port "$1")"
  if [ -x "$pgbin/pg_isready" ]; then
    "$pgbin/pg_isready" -q -h "${hp[0]}" -p "${hp[1]}" -t 3
  else
    (exec 3<>"/dev/tcp/${hp[0]}/${hp[1]}") 2>/dev/null
  fi
}

private_dir=""
as=() # the user the private cluster runs as (initdb refuses root)
stop_private() {
  if [ -n "$private_dir" ]; then
    "${as[@]}" "$pgbin/pg_ctl" -D "$private_dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$private_dir"
  fi
}
trap stop_private EXIT

if answers "$url"; then
  echo "== Postgres: using the one answering at ${url%%\?*}"
else
  echo "== Postgres: none answers at ${url%%\?*}; starting a private PostgreSQL 15"
  if [ ! -x "$pgbin/initdb" ]; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql-15 >/dev/null
  fi
  private_dir="$(mktemp -d /tmp/kagzi_ci_pg.XXXXXX)"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  if [ "$(id -u)" = 0 ]; then
    # initdb refuses to run as root: run the private cluster as the postgres user.
    id postgres >/dev/null 2>&1 || useradd -r -M postgres
    chown postgres "$private_dir"
    as=(runuser -u postgres --)
  fi
  "${as[@]}" "$pgbin/initdb" -D "$private_dir/data" -U postgres -A trust >/dev/null
  "${as[@]}" "$pgbin/pg_ctl" -D "$private_dir/data" -l "$private_dir/log" -w -t 60 \
    -o "-h 127.0.0.1 -p $port -k $private_dir -c max_connections=300" start >/dev/null
  url="postgres://postgres@127.0.0.1:$port/postgres"
  answers "$url" || {
    cat "$private_dir/log" >&2
    echo "the private Postgres did not start" >&2
    exit 1
  }
  echo "== Postgres: private PostgreSQL 15 at $url ($private_dir)"
fi

export KAGZI_TEST_POSTGRES_URL="$url"
export KAGZI_TEST_BACKENDS=embedded,postgres
"$@"
