#!/bin/bash
# What the official postgres image's entrypoint does for the variables deploy/k8s/dev/postgres.yaml sets: initialise
# PGDATA once with POSTGRES_USER as superuser and POSTGRES_PASSWORD, create POSTGRES_DB, accept password logins from
# the network, then run the server in the foreground as the postgres user.
set -euo pipefail
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is empty; the manifest must set it}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
export PGDATA=${PGDATA:-/var/lib/postgresql/data}
mkdir -p "$PGDATA" /run/postgresql
chown postgres: "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  # The password reaches initdb in a file only postgres can read, removed at once (not on a command line).
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile" && chown postgres: "$pwfile" && chmod 600 "$pwfile"
  runuser -u postgres -- initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" -A scram-sha-256 -E UTF8 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  runuser -u postgres -- pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  if [ "$db" != postgres ]; then
    PGPASSWORD=$POSTGRES_PASSWORD runuser -u postgres -- psql -q -h /run/postgresql -U "$user" -d postgres \
      -c "CREATE DATABASE \"$db\""
  fi
  runuser -u postgres -- pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec runuser -u postgres -- postgres -D "$PGDATA" "$@"
