#!/usr/bin/env bash
# A three-silo MemRL cluster on loopback, configured as the Kubernetes manifests configure it (deploy/k8s/base/config.yaml),
# for users without Kubernetes and for the chaos tests. PostgreSQL and Redis come from the Debian packages
# (apt-get install postgresql redis-server), or from MEMRL_LOCAL_POSTGRES / MEMRL_LOCAL_REDIS when those are set.
#
#   deploy/local/cluster.sh up        build the silo, start PostgreSQL, Redis and 3 silos; wait until all are ready
#   deploy/local/cluster.sh down      stop them (data kept in the state directory)
#   deploy/local/cluster.sh status    what runs, and each silo's readiness
#   deploy/local/cluster.sh env N     the environment silo N runs with (what `up` uses; the tests start silos with it)
#
# Storage: MEMRL_LOCAL_STORAGE=azure runs the silos on Azure Storage instead (membership, reminders, banks and shards;
# docs/storage.md): MEMRL_LOCAL_AZURE names the account's connection string, or, unset, Azurite from tools/azurite
# (cd tools/azurite && npm ci) is started on 127.0.0.1:10140-10142 with its data in the state directory.
#
# State (database, logs, keys): $MEMRL_LOCAL_DIR, default ./data/local-cluster. Silo N (0..2) serves HTTP on
# 127.0.0.1:8081+N, Orleans on 11111+N / 30000+N (MEMRL_LOCAL_HTTP_PORT, _SILO_PORT, _GATEWAY_PORT move them).
# The API key for tenant "local" is in $MEMRL_LOCAL_DIR/api-key.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mkdir -p "${MEMRL_LOCAL_DIR:-$root/data/local-cluster}" && cd "${MEMRL_LOCAL_DIR:-$root/data/local-cluster}" && pwd)
silos=3
pg_port=55440
redis_port=56390
# First ports of silo 0; silo N adds N. Overridable so tests can keep clear of other clusters on the machine.
silo_port=${MEMRL_LOCAL_SILO_PORT:-11111}
gateway_port=${MEMRL_LOCAL_GATEWAY_PORT:-30000}
http_port=${MEMRL_LOCAL_HTTP_PORT:-8081}
postgres=${MEMRL_LOCAL_POSTGRES:-"Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=memrl"}
redis=${MEMRL_LOCAL_REDIS:-"127.0.0.1:$redis_port"}
silo_dll="$root/silo/bin/Release/net10.0/MemRL.Silo.dll"
storage=${MEMRL_LOCAL_STORAGE:-postgres}
azurite_port=10140
azure=${MEMRL_LOCAL_AZURE:-"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:$azurite_port/devstoreaccount1;QueueEndpoint=http://127.0.0.1:$((azurite_port + 1))/devstoreaccount1;TableEndpoint=http://127.0.0.1:$((azurite_port + 2))/devstoreaccount1;"}

# One recall-token key and one API key per state directory, shared by every silo (as the Secret is in Kubernetes).
secrets() {
  [ -f "$dir/token-key" ] || head -c 32 /dev/urandom | base64 > "$dir/token-key"
  if [ ! -f "$dir/api-key" ]; then
    (umask 077; echo "memrl_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')" > "$dir/api-key")
  fi
}

# The ConfigMap's data, then what differs on loopback: addresses, ports, connection strings, keys.
env_of() {
  local n=$1
  awk '/^kind: ConfigMap/ {cm=1} /^---/ {cm=0} cm && /^  MemRL__/ {sub(/^  /, ""); k=$1; sub(/:$/, "", k); $1=""; v=substr($0, 2); gsub(/^"|"$/, "", v); print k "=" v}' \
    "$root/deploy/k8s/base/config.yaml"
  echo "MemRL__Cluster__ListenOnAnyAddress=false"
  echo "MemRL__Cluster__AdvertisedAddress=127.0.0.1"
  echo "MemRL__Cluster__SiloPort=$((silo_port + n))"
  echo "MemRL__Cluster__GatewayPort=$((gateway_port + n))"
  echo "MemRL__Api__Urls=http://127.0.0.1:$((http_port + n))"
  if [ "$storage" = azure ]; then
    echo "MemRL__Storage__Provider=Azure"
    echo "MemRL__Storage__AzureConnectionString=$azure"
    echo "MemRL__Cluster__AzureStorage=$azure"
  else
    echo "MemRL__Cluster__Redis=$redis"
    echo "MemRL__Storage__PostgreSqlConnectionString=$postgres"
  fi
  echo "MemRL__RecallTokenKey=$(cat "$dir/token-key")"
  echo "MemRL__Api__Keys__0__Tenant=local"
  echo "MemRL__Api__Keys__0__Sha256=$(tr -d '\n' < "$dir/api-key" | sha256sum | cut -d' ' -f1)"
}

start_services() {
  if [ "$storage" = azure ]; then
    if [ -z "${MEMRL_LOCAL_AZURE:-}" ] && ! (exec 3<>"/dev/tcp/127.0.0.1/$((azurite_port + 2))") 2>/dev/null; then
      local bin="$root/tools/azurite/node_modules/.bin/azurite"
      [ -x "$bin" ] || { echo "Azurite is not installed: (cd tools/azurite && npm ci), or set MEMRL_LOCAL_AZURE"; exit 1; }
      mkdir -p "$dir/azurite"
      nohup "$bin" --silent --skipApiVersionCheck --disableProductStyleUrl --location "$dir/azurite" --blobHost 127.0.0.1 --blobPort "$azurite_port" \
        --queueHost 127.0.0.1 --queuePort $((azurite_port + 1)) --tableHost 127.0.0.1 --tablePort $((azurite_port + 2)) > "$dir/azurite.log" 2>&1 &
      echo $! > "$dir/azurite.pid"
      sleep 3
    fi
    return
  fi
  if [ -z "${MEMRL_LOCAL_POSTGRES:-}" ]; then
    local pg_bin
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$pg_bin" ] || { echo "PostgreSQL is not installed: apt-get install postgresql (or set MEMRL_LOCAL_POSTGRES)"; exit 1; }
    local as=()
    [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
    if [ ! -d "$dir/pg" ]; then
      mkdir -p "$dir/pg" && [ "$(id -u)" = 0 ] && chown postgres: "$dir/pg" && chmod 755 "$dir"
      "${as[@]}" "$pg_bin/initdb" -D "$dir/pg/data" -A trust -U postgres -E UTF8 >/dev/null
    fi
    if ! pg_isready -q -h 127.0.0.1 -p "$pg_port"; then
      "${as[@]}" "$pg_bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/server.log" -w start -o "-p $pg_port -k $dir/pg -c listen_addresses=127.0.0.1" >/dev/null
      psql -h 127.0.0.1 -p "$pg_port" -U postgres -q -c "CREATE DATABASE memrl" >/dev/null 2>&1 || true
    fi
  fi
  if [ -z "${MEMRL_LOCAL_REDIS:-}" ] && ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
    command -v redis-server >/dev/null || { echo "Redis is not installed: apt-get install redis-server (or set MEMRL_LOCAL_REDIS)"; exit 1; }
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" --daemonize yes >/dev/null
  fi
}

start_silo() {
  local n=$1
  (
    cd "$dir"
    while IFS= read -r line; do export "${line?}"; done < <(env_of "$n")
    nohup dotnet "$silo_dll" > "$dir/silo-$n.log" 2>&1 &
    echo $! > "$dir/silo-$n.pid"
  )
}

ready() { curl -sf -o /dev/null "http://127.0.0.1:$((http_port + $1))/health/ready"; }

case "${1:-}" in
  up)
    [ -f "$silo_dll" ] || dotnet build "$root/silo/MemRL.Silo.csproj" -c Release -v q >/dev/null
    secrets
    start_services
    for n in $(seq 0 $((silos - 1))); do start_silo "$n"; done
    for n in $(seq 0 $((silos - 1))); do
      for _ in $(seq 1 120); do ready "$n" && break; sleep 1; done
      ready "$n" || { echo "silo $n is not ready after 120 s; see $dir/silo-$n.log"; exit 1; }
    done
    echo "3 silos ready: http://127.0.0.1:$http_port, :$((http_port + 1)), :$((http_port + 2)) (API key in $dir/api-key, tenant 'local')"
    ;;
  down)
    for n in $(seq 0 $((silos - 1))); do
      [ -f "$dir/silo-$n.pid" ] && kill "$(cat "$dir/silo-$n.pid")" 2>/dev/null || true
      rm -f "$dir/silo-$n.pid"
    done
    # Azurite saves its tables on SIGTERM (it autosaves only every 5 s otherwise).
    [ -f "$dir/azurite.pid" ] && kill "$(cat "$dir/azurite.pid")" 2>/dev/null || true
    rm -f "$dir/azurite.pid"
    [ -z "${MEMRL_LOCAL_REDIS:-}" ] && redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
    if [ -z "${MEMRL_LOCAL_POSTGRES:-}" ] && [ -d "$dir/pg/data" ]; then
      as=(); [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
      pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
      "${as[@]}" "$pg_bin/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    echo "stopped (state kept in $dir)"
    ;;
  status)
    for n in $(seq 0 $((silos - 1))); do
      if ready "$n"; then echo "silo $n: ready"; else echo "silo $n: not ready"; fi
    done
    ;;
  env)
    secrets
    env_of "${2:?usage: cluster.sh env N}"
    ;;
  *)
    sed -n '2,14p' "$0"
    exit 2
    ;;
esac
