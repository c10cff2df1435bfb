#!/usr/bin/env bash
# Run the Kubernetes dev overlay's workloads for real on this machine, with containers and no registry (issue #19):
# build every image from a debootstrap root, render the overlay (./kustomization.yaml over deploy/k8s/dev), play its
# pods with `podman kube play`, and check what the manifests promise: three silos, PostgreSQL and Redis up, every
# probe answering, the Python agent loop learning through a published port, one silo container killed and recall
# coverage full again. Prints which parts of the manifests ran; Kubernetes itself (API server, scheduler, Services'
# load balancing, RBAC, Orleans' Kubernetes hosting, the PDB) needs an API server and is not tested here.
#
#   deploy/local-cluster/run.sh            the whole run; removes its pods, volumes and network at the end
#   deploy/local-cluster/run.sh --dry-run  render the overlay and the pods and print the plan; no images, no podman
#   deploy/local-cluster/run.sh clean      also remove the images and the cached debootstrap root
#   MEMRL_PODMAN_REUSE_PUBLISH=1 run.sh    keep the last publish of silo/ (iterating on the script only)
#
# Idempotent: a run first removes what an earlier (interrupted) run left. The debootstrap root (minutes to make) is
# cached in $MEMRL_PODMAN_DIR (default /var/tmp/memrl-local-cluster) as base-rootfs.tar and the images stay in
# podman's store between runs; everything else is rebuilt. Needs root, the .NET SDK and apt for podman, runc,
# debootstrap and python3-yaml (installed when missing). Silo i's HTTP API is published on 127.0.0.1:18080+i
# (MEMRL_PODMAN_HTTP_PORT moves it); the pods live on podman network memrl-local, 10.89.77.0/24 (MEMRL_PODMAN_SUBNET).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
state=${MEMRL_PODMAN_DIR:-/var/tmp/memrl-local-cluster}
network=memrl-local
subnet=${MEMRL_PODMAN_SUBNET:-10.89.77}
http_base=${MEMRL_PODMAN_HTTP_PORT:-18080}
mirror=${MEMRL_PODMAN_MIRROR:-http://deb.debian.org/debian}
episodes=${MEMRL_PODMAN_EPISODES:-120}
base_image=localhost/memrl-base:local
images=(localhost/memrl-silo:local localhost/memrl-postgres:local localhost/memrl-redis:local)
mode=${1:-run}
case "$mode" in run|--dry-run|clean) ;; *) sed -n '2,20p' "$0"; exit 2 ;; esac

started=$SECONDS
steps=()
log() { printf '[%s %4ss] %s\n' "$(date -u +%T)" "$((SECONDS - started))" "$*"; }
# step NAME COMMAND...: runs it, records its wall time for the summary.
step() {
  local name=$1 t0=$SECONDS; shift
  log "$name ..."
  "$@"
  steps+=("$(printf '%-34s %5ss' "$name" "$((SECONDS - t0))")")
}
fail() { log "FAILED: $*"; exit 1; }

python=python3
need_packages() {
  local missing=()
  if [ "$mode" = run ]; then
    for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
    command -v dotnet >/dev/null || fail "the .NET SDK (dotnet) is not on PATH"
  fi
  if ! python3 -c 'import yaml' 2>/dev/null; then
    if /usr/bin/python3 -c 'import yaml' 2>/dev/null; then python=/usr/bin/python3; else missing+=(python3-yaml); python=/usr/bin/python3; fi
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing from apt: ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  fi
}

# podman's defaults do not start containers in this sandbox: crun refuses the hybrid cgroup layout (v1 controllers
# plus a v2 hierarchy holding hugetlb), and raising RLIMIT_NPROC/NOFILE above the host's limits is refused (no
# CAP_SYS_RESOURCE). runc handles the hybrid layout; the limits are set to what the host allows.
podman_config() {
  mkdir -p "$state"
  cat > "$state/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=4096:4096"]
[engine]
runtime = "runc"
EOF
  export CONTAINERS_CONF="$state/containers.conf"
}

render() {
  mkdir -p "$state"
  "$python" "$here/render.py" "$here" > "$state/rendered-render-py.yaml"
  if command -v kubectl >/dev/null; then
    kubectl kustomize "$here" > "$state/rendered.yaml"
    "$python" - "$state/rendered.yaml" "$state/rendered-render-py.yaml" <<'EOF' || fail "render.py and kubectl kustomize disagree"
import sys, yaml
a, b = (list(yaml.safe_load_all(open(p))) for p in sys.argv[1:])
sys.exit(0 if a == b else 1)
EOF
    renderer="kubectl kustomize ($(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p')); render.py gives the same objects"
  else
    cp "$state/rendered-render-py.yaml" "$state/rendered.yaml"
    renderer="render.py (no kubectl here; kustomize is not packaged by Debian)"
  fi
}

secrets() {
  token_key=$(head -c 32 /dev/urandom | base64)
  api_key="memrl_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  api_sha=$(printf '%s' "$api_key" | sha256sum | cut -d' ' -f1)
}

plan_pods() {
  rm -rf "$state/pods"
  "$python" "$here/pods.py" "$state/rendered.yaml" "$state/pods" --subnet "$subnet" --publish-base "$http_base" \
    --secret "MemRL__RecallTokenKey=$token_key" --secret "MemRL__Api__Keys__0__Tenant=local" \
    --secret "MemRL__Api__Keys__0__Sha256=$api_sha" > "$state/manifest-report.txt"
}

pod_names() { cut -f1 "$state/pods/pods.tsv" 2>/dev/null; }

# Removes this script's pods, their volumes and the network: before a run (what an interrupted one left) and after.
teardown() {
  command -v podman >/dev/null || return 0
  local pod
  for pod in $(podman pod ls --format '{{.Name}}' --filter label=app.kubernetes.io/name 2>/dev/null | grep '^memrl-' || true); do
    podman pod rm -f -t 5 "$pod" >/dev/null 2>&1 || true
  done
  for volume in $(podman volume ls --format '{{.Name}}' 2>/dev/null | grep -E '^data-memrl-' || true); do
    podman volume rm -f "$volume" >/dev/null 2>&1 || true
  done
  podman network rm -f "$network" >/dev/null 2>&1 || true
}

base() {
  if podman image exists "$base_image"; then return; fi
  if [ ! -s "$state/base-rootfs.tar" ]; then
    rm -rf "$state/rootfs"
    # minbase + what the images need: ICU for the silo's globalization, curl for podman's httpGet liveness checks,
    # Debian's PostgreSQL and Redis for the two dev StatefulSets.
    debootstrap --variant=minbase --include=ca-certificates,libicu72,curl,postgresql-15,redis-server \
      bookworm "$state/rootfs" "$mirror" > "$state/debootstrap.log" 2>&1 || fail "debootstrap (log: $state/debootstrap.log)"
    tar -C "$state/rootfs" -cf "$state/base-rootfs.tar.tmp" . && mv "$state/base-rootfs.tar.tmp" "$state/base-rootfs.tar"
    rm -rf "$state/rootfs"
  fi
  podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' "$state/base-rootfs.tar" "$base_image" >/dev/null 2>&1
}

publish_silo() {
  # MEMRL_PODMAN_REUSE_PUBLISH=1 keeps the last run's publish (for iterating on the script; never for a recorded run).
  if [ "${MEMRL_PODMAN_REUSE_PUBLISH:-}" = 1 ] && [ -x "$state/build/app/MemRL.Silo" ]; then
    log "reusing the publish in $state/build/app (MEMRL_PODMAN_REUSE_PUBLISH=1)"
    cp "$here"/images/* "$state/build/"
    return
  fi
  rm -rf "$state/build" && mkdir -p "$state/build"
  dotnet publish "$root/silo/MemRL.Silo.csproj" -c Release -r linux-x64 --self-contained -o "$state/build/app" \
    -v q -nologo > "$state/publish.log" 2>&1 || fail "dotnet publish (log: $state/publish.log)"
  cp "$here"/images/* "$state/build/"
}

# The debootstrap (network- and disk-bound, minutes on a cold cache) and the self-contained publish (CPU-bound) need
# nothing from each other, so a cold run makes them side by side; each one's own time goes in the summary.
base_and_publish() {
  local t0=$SECONDS base_pid
  ( base; echo $((SECONDS - t0)) > "$state/base.seconds" ) &
  base_pid=$!
  publish_silo
  steps+=("$(printf '  %-32s %5ss' "dotnet publish --self-contained" "$((SECONDS - t0))")")
  wait "$base_pid" || fail "base image (debootstrap root)"
  steps+=("$(printf '  %-32s %5ss' "base image (debootstrap root)" "$(cat "$state/base.seconds")")")
}

build_images() {
  local name
  for name in silo postgres redis; do
    podman build --pull=never -q -f "$state/build/$name.Containerfile" -t "localhost/memrl-$name:local" "$state/build" \
      > "$state/build-$name.log" 2>&1 || fail "podman build $name (log: $state/build-$name.log)"
  done
}

play() {
  podman network create --subnet "$subnet.0/24" "$network" >/dev/null
  local pod address aliases
  # Storage first, as a Kubernetes operator applying the dev overlay would wait for it; the silos would otherwise
  # restart until PostgreSQL accepts connections.
  while IFS=$'\t' read -r pod address aliases _ _; do
    local net="$network:ip=$address"
    [ "$aliases" = - ] || net="$net,alias=${aliases//,/,alias=}"
    podman kube play --network "$net" "$state/pods/$pod.yaml" < /dev/null > "$state/play-$pod.log" 2>&1 \
      || fail "podman kube play $pod (log: $state/play-$pod.log)"
    case "$pod" in memrl-silo-*) ;; *) wait_probes "$pod" < /dev/null ;; esac
  done < <(awk -F'\t' '$1 !~ /^memrl-silo/' "$state/pods/pods.tsv"; awk -F'\t' '$1 ~ /^memrl-silo/' "$state/pods/pods.tsv")
}

# podman 4.3 runs none of the manifests' probes here (it turns livenessProbe into a healthcheck, and without systemd
# nothing schedules that), so this is the prober: each probe of pods.tsv's probes.tsv, with the manifest's command or
# path and port, against the pod's own address. A startupProbe must pass within periodSeconds × failureThreshold (the
# kubelet restarts the container after that); readiness has no deadline in Kubernetes, 300 s here; liveness must pass.
wait_probes() {
  local pod=$1 container kind handler target budget
  while IFS=$'\t' read -r _ container kind handler target budget; do
    [ "$kind" = readinessProbe ] && budget=300
    local t0=$SECONDS ok=
    while [ $((SECONDS - t0)) -le "$budget" ]; do
      if probe_once "$pod" "$container" "$handler" "$target"; then ok=1; break; fi
      sleep 1
    done
    if [ -z "$ok" ]; then
      podman logs --tail 40 "$pod-$container" < /dev/null || true
      fail "$pod: $kind $handler $target did not pass within ${budget} s"
    fi
    checks+=("$pod $kind $handler ${target//$'\x1f'/ }: passed after $((SECONDS - t0)) s")
  done < <(awk -F'\t' -v p="$pod" '$1 == p' "$state/pods/probes.tsv")
}

probe_once() {
  local pod=$1 container=$2 handler=$3 target=$4
  if [ "$handler" = httpGet ]; then
    curl -sf -o /dev/null -m 5 "http://$(address_of "$pod"):$target" < /dev/null
  else
    local argv
    IFS=$'\x1f' read -r -a argv <<< "$target"
    podman exec "$pod-$container" "${argv[@]}" < /dev/null > /dev/null 2>&1
  fi
}

wait_silo_probes() {
  local pod
  for pod in $(pod_names | grep '^memrl-silo-'); do wait_probes "$pod"; done
}

address_of() { awk -F'\t' -v p="$1" '$1 == p {print $2}' "$state/pods/pods.tsv"; }
port_of() { awk -F'\t' -v p="$1" '$1 == p {print $4}' "$state/pods/pods.tsv"; }

api() { # api METHOD PATH [BODY] -> body on stdout; fails on an HTTP error
  local port=$1 method=$2 path=$3 body=${4:-}
  curl -sf -m 20 -X "$method" "http://127.0.0.1:$port$path" -H "Authorization: Bearer $api_key" \
    -H 'Content-Type: application/json' ${body:+-d "$body"}
}

agent_loop() {
  local port out
  port=$(port_of memrl-silo-0)
  out=$(PYTHONPATH="$root/sdk/python/src" "$python" "$root/examples/python/agent_loop.py" \
    --url "http://127.0.0.1:$port" --key "$api_key" --episodes "$episodes" 2>&1) \
    || { echo "$out" | tail -20; fail "the agent loop through 127.0.0.1:$port failed"; }
  echo "$out" > "$state/agent-loop.log"
  checks+=("agent loop through 127.0.0.1:$port: $(echo "$out" | tail -n 1)")
}

coverage_of() { "$python" -c 'import json,sys; c=json.load(sys.stdin)["coverage"]; print(c["shardsAnswered"], c["shardsTotal"])'; }

kill_and_recover() {
  local port bank=containers-coverage shards=6 victim=memrl-silo-2 i
  port=$(port_of memrl-silo-0)
  api "$port" DELETE "/v1/banks/$bank" >/dev/null 2>&1 || true
  api "$port" POST /v1/banks "{\"name\":\"$bank\",\"shardCount\":$shards,\"options\":{\"delta\":0}}" >/dev/null \
    || fail "create bank $bank"
  for i in $(seq 1 24); do
    api "$port" POST "/v1/banks/$bank/memories" "{\"intentText\":\"task number $i of the coverage check\",\"experience\":\"did $i\",\"success\":true}" >/dev/null \
      || fail "write memory $i"
  done
  local recall='{"queryText":"task number 7 of the coverage check","k1":24,"k2":5}'
  read -r answered total < <(api "$port" POST "/v1/banks/$bank/recall" "$recall" | coverage_of)
  [ "$answered" = "$shards" ] && [ "$total" = "$shards" ] || fail "coverage before the kill is $answered/$total; expected $shards/$shards"
  checks+=("recall coverage before the kill: $answered/$total shards")

  local restarts_before; restarts_before=$(podman inspect "$victim-silo" --format '{{.RestartCount}}')
  # SIGKILL to the silo process from the host, as the kernel's OOM killer or a crash would end it: conmon sees the
  # container die and podman restarts it (restartPolicy Always). `podman kill` would count as a stop by the user,
  # which podman does not restart.
  kill -KILL "$(podman inspect "$victim-silo" --format '{{.State.Pid}}')"
  local t0=$SECONDS lowest=$shards polls=0 full_at=
  # Poll until a recall answers from every shard again (Orleans declares the dead silo dead and reactivates its
  # shards elsewhere, or the restarted container rejoins). Partial answers are expected meanwhile, not failures.
  while [ $((SECONDS - t0)) -le 180 ]; do
    local body
    if body=$(api "$port" POST "/v1/banks/$bank/recall" "$recall" 2>/dev/null); then
      read -r answered total < <(echo "$body" | coverage_of)
      polls=$((polls + 1))
      [ "$answered" -lt "$lowest" ] && lowest=$answered
      if [ "$answered" = "$shards" ] && { [ "$lowest" -lt "$shards" ] || [ $((SECONDS - t0)) -ge 30 ]; }; then
        full_at=$((SECONDS - t0)); break
      fi
    fi
    sleep 0.5
  done
  [ -n "$full_at" ] || fail "coverage not full 180 s after killing $victim (last $answered/$total)"
  checks+=("killed $victim (SIGKILL): lowest coverage seen $lowest/$shards over $polls recalls; full $shards/$shards again after ${full_at} s")
  local memories
  memories=$(api "$port" GET "/v1/banks/$bank/stats" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["memories"])')
  [ "$memories" = 24 ] || fail "stats after the kill count $memories memories; expected 24"
  checks+=("stats after the kill: $memories memories, as written")
  # restartPolicy Always: podman restarts the killed container; wait for its probes as the kubelet would.
  local t1=$SECONDS restarted=
  while [ $((SECONDS - t1)) -le 180 ]; do
    if [ "$(podman inspect "$victim-silo" --format '{{.RestartCount}}')" -gt "$restarts_before" ] && \
       curl -sf -o /dev/null -m 5 "http://$(address_of "$victim"):8080/health/ready"; then
      restarted=1; break
    fi
    sleep 1
  done
  [ -n "$restarted" ] || fail "$victim was not restarted and ready within 180 s (restartPolicy Always)"
  checks+=("$victim restarted by podman (restartPolicy Always) and ready again $((SECONDS - t1)) s after coverage was full")
  api "$port" DELETE "/v1/banks/$bank" >/dev/null || true
}

summary() {
  echo
  echo "== which parts of the manifests ran (rendered by $renderer) =="
  cat "$state/manifest-report.txt"
  echo "not tested: Kubernetes itself: API server, scheduler, Service load balancing, RBAC, the PDB, rolling updates,"
  echo "            Orleans' Kubernetes hosting (on only when KUBERNETES_SERVICE_HOST is set, i.e. in a real pod)"
  if [ ${#checks[@]} -gt 0 ]; then
    echo "== checks =="
    printf '  %s\n' "${checks[@]}"
  fi
  echo "== steps (wall time) =="
  printf '  %s\n' "${steps[@]}"
  printf '  %-34s %5ss\n' total "$((SECONDS - started))"
}

checks=()
case "$mode" in
  clean)
    podman_config; teardown
    for image in "${images[@]}" "$base_image"; do podman rmi -f "$image" >/dev/null 2>&1 || true; done
    rm -rf "$state"
    echo "removed the pods, images and $state"
    ;;
  --dry-run)
    need_packages
    step "render the overlay" render
    secrets
    step "plan the pods" plan_pods
    for file in "$here"/images/*.Containerfile; do grep -q '^FROM localhost/memrl-base:local' "$file" || fail "$file is not built on the debootstrap base"; done
    checks+=("dry run: nothing built or started; pods planned in $state/pods")
    summary
    ;;
  run)
    need_packages
    podman_config
    trap 'log "cleaning up"; teardown' EXIT
    step "remove an earlier run's pods" teardown
    step "render the overlay" render
    secrets
    step "plan the pods" plan_pods
    step "base image + publish, in parallel" base_and_publish
    step "podman build silo, postgres, redis" build_images
    step "play postgres, redis, 3 silos" play
    step "silo probes" wait_silo_probes
    step "agent loop ($episodes episodes)" agent_loop
    step "kill a silo, coverage back" kill_and_recover
    summary
    echo "containers run: PASSED"
    ;;
esac
