#!/usr/bin/env python3
"""Turn the rendered overlay into what Debian's `podman kube play` (4.3) can run, and say what that leaves out.

podman plays Pods and one replica per Deployment, and has no Services, RBAC, PodDisruptionBudgets or Namespaces.
This writes one Pod per replica the manifests ask for, named as Kubernetes would name them where that is stable
(StatefulSet pods `<name>-<i>`; Deployment pods `<name>-<i>` for the ReplicaSet's random suffix), and changes in
them only what podman 4.3 cannot do itself, each change listed in the report:

  - `fieldRef: status.podIP` and `metadata.namespace`: podman refuses both ("fieldPath ... not supported"); the
    pod gets a fixed address on the run's network and the variables that address and the object's namespace, the
    values the kubelet would fill in. (podman resolves metadata.name and metadata.labels itself.)
  - `envFrom: secretRef`: podman 4.3 reads it from its own secret store in a format a played Secret does not have
    ("secret ... is not valid JSON"); the Secret's keys become the container's env, as the kubelet would set them.
    The Secret's placeholder values are replaced with the run's own (--secret KEY=VALUE), as deploy/README.md asks
    an operator to.
  - StatefulSet `volumeClaimTemplates`: a PersistentVolumeClaim `<template>-<pod>` (podman makes it a volume).
  - `ports` without a hostPort are left out: podman 4.3 publishes every containerPort on the host (Kubernetes
    publishes none), which collides with anything else on the machine. Pods reach each other on the network's
    addresses whatever is declared; probes that name such a port get its number.
  - A Service that selects exactly one pod: its name becomes a DNS alias of that pod on the network (how the silos
    reach memrl-postgres and memrl-redis). Services selecting several pods are not emulated; each silo's http port
    is published on the host instead (--publish-base: silo i on 127.0.0.1:<base + i>).

Everything else in the pod templates (images, commands, args, env, ConfigMap envFrom, ports, probes as podman
understands them, securityContext, resources, emptyDir) goes to podman unchanged.

    pods.py RENDERED.yaml OUT_DIR --subnet 10.89.77 --publish-base 18080 [--secret KEY=VALUE ...]

writes OUT_DIR/<pod>.yaml for each pod, OUT_DIR/pods.tsv (pod, address, aliases, published port), OUT_DIR/probes.tsv
(pod, container, probe, httpGet or exec, port+path or the command's argv joined by \x1f, seconds allowed) and prints the report: every rendered object and what became of it.
"""

import argparse
import copy
import json
import sys
from pathlib import Path

import yaml

NOT_RUN = {
    "Namespace": "podman has no namespaces",
    "ServiceAccount": "no API server: nothing to authenticate to",
    "Role": "no API server: RBAC has nothing to authorise",
    "RoleBinding": "no API server: RBAC has nothing to authorise",
    "PodDisruptionBudget": "no voluntary disruptions without a scheduler",
}


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rendered")
    parser.add_argument("out")
    parser.add_argument("--subnet", required=True, help="first three octets of the network's /24, e.g. 10.89.77")
    parser.add_argument("--publish-base", type=int, required=True)
    parser.add_argument("--secret", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv[1:])

    overrides = {}
    for item in args.secret:
        key, sep, value = item.partition("=")
        if not sep or not key:
            parser.error(f"--secret is '{item}'; expected KEY=VALUE")
        overrides[key] = value

    objects = [d for d in yaml.safe_load_all(Path(args.rendered).read_text()) if d]
    by_kind = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    config_maps = {o["metadata"]["name"]: o for o in by_kind.get("ConfigMap", [])}
    secrets = {o["metadata"]["name"]: o for o in by_kind.get("Secret", [])}
    for secret in secrets.values():
        unknown = sorted(set(overrides) - set(secret.get("stringData", {})))
        if unknown:
            parser.error(f"--secret {unknown[0]}: Secret '{secret['metadata']['name']}' has no such key")
        secret.setdefault("stringData", {}).update(overrides)

    report = []
    pods = []  # (name, labels, pod spec, pvcs)
    for obj in objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind in ("Deployment", "StatefulSet"):
            replicas = obj["spec"].get("replicas", 1)
            template = obj["spec"]["template"]
            for i in range(replicas):
                pod_name = f"{name}-{i}"
                spec = copy.deepcopy(template["spec"])
                pvcs = []
                for claim in obj["spec"].get("volumeClaimTemplates", []):
                    claim_name = f"{claim['metadata']['name']}-{pod_name}"
                    pvcs.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                 "metadata": {"name": claim_name}, "spec": claim["spec"]})
                    spec.setdefault("volumes", []).append(
                        {"name": claim["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim_name}})
                pods.append((pod_name, dict(template["metadata"].get("labels", {})), spec, pvcs, kind,
                             obj["metadata"].get("namespace")))
            extra = " (+ a PersistentVolumeClaim each)" if obj["spec"].get("volumeClaimTemplates") else ""
            report.append(f"ran      {kind}/{name}: {replicas} pod(s) {', '.join(f'{name}-{i}' for i in range(replicas))}{extra}")
        elif kind == "ConfigMap":
            report.append(f"ran      ConfigMap/{name}: played with the pods (envFrom configMapRef)")
        elif kind == "Secret":
            report.append(f"ran      Secret/{name}: its keys set as env (podman 4.3 cannot envFrom a played Secret); "
                          f"replaced for this run: {', '.join(sorted(overrides)) or 'nothing'}")
        elif kind == "Service":
            pass  # reported below, once the pods are known
        elif kind in NOT_RUN:
            report.append(f"not run  {kind}/{name}: {NOT_RUN[kind]}")
        else:
            report.append(f"not run  {kind}/{name}: pods.py does not know this kind")

    addresses = {pod[0]: f"{args.subnet}.{10 + i}" for i, pod in enumerate(pods)}
    aliases = {pod[0]: [] for pod in pods}
    for service in by_kind.get("Service", []):
        selector = service["spec"].get("selector", {})
        chosen = [p[0] for p in pods if selector and all(p[1].get(k) == v for k, v in selector.items())]
        name = service["metadata"]["name"]
        if len(chosen) == 1:
            aliases[chosen[0]].append(name)
            report.append(f"emulated Service/{name}: DNS alias of pod {chosen[0]} on the run's network")
        else:
            report.append(f"not run  Service/{name}: selects {len(chosen)} pods and podman has no load balancer; "
                          f"each pod's ports are reached directly")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    probe_rows = []
    published = 0
    for pod_name, labels, spec, pvcs, owner, namespace in pods:
        address = addresses[pod_name]
        publish = ""
        for container in spec.get("containers", []):
            container["env"] = resolve_env(container, address, namespace, secrets)
            container["envFrom"] = [e for e in container.get("envFrom", []) if "secretRef" not in e]
            if not container["envFrom"]:
                del container["envFrom"]
            named = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                for handler in ("httpGet", "tcpSocket"):
                    probe = container.get(kind, {}).get(handler)
                    if probe and isinstance(probe.get("port"), str):
                        probe["port"] = named[probe["port"]]
            if owner == "Deployment":
                for port in container.get("ports", []):
                    if port.get("name") == "http":
                        port["hostPort"] = args.publish_base + published
                        port["hostIP"] = "127.0.0.1"
                        publish = str(port["hostPort"])
                        published += 1
            container["ports"] = [p for p in container.get("ports", []) if "hostPort" in p]
            if not container["ports"]:
                del container["ports"]
        documents = list(config_maps.values()) + pvcs + [
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod_name, "labels": labels, **(
                {"namespace": namespace} if namespace else {})}, "spec": spec}]
        (out / f"{pod_name}.yaml").write_text(yaml.safe_dump_all(documents, sort_keys=False))
        rows.append("\t".join([pod_name, address, ",".join(aliases[pod_name]) or "-", publish or "-"]))
        for container in spec.get("containers", []):
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                if kind in container:
                    probe_rows.append("\t".join([pod_name, container["name"], kind, *probe_target(container[kind])]))
    (out / "pods.tsv").write_text("\n".join(rows) + "\n")
    (out / "probes.tsv").write_text("\n".join(probe_rows) + "\n")
    print("\n".join(report))
    return 0


def probe_target(probe):
    """(handler, target, seconds the kubelet would allow): the path and port of an httpGet, the argv of an exec."""
    budget = str(probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3))
    if "httpGet" in probe:
        return "httpGet", f"{probe['httpGet']['port']}{probe['httpGet']['path']}", budget
    if "exec" in probe:
        # argv joined by the ASCII unit separator, which no command line holds: run.sh splits on it.
        return "exec", "\x1f".join(probe["exec"]["command"]), budget
    raise SystemExit(f"pods.py: probe {sorted(probe)} has neither httpGet nor exec; run.sh runs only those")


def resolve_env(container, address, namespace, secrets):
    env = []
    # envFrom secretRef first: explicit env entries win over envFrom, as in Kubernetes.
    explicit = {e["name"] for e in container.get("env", [])}
    for source in container.get("envFrom", []):
        if "secretRef" in source:
            secret = secrets[source["secretRef"]["name"]]
            for key, value in sorted(secret.get("stringData", {}).items()):
                if key not in explicit:
                    env.append({"name": key, "value": str(value)})
    for entry in container.get("env", []):
        field = entry.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        if field == "status.podIP":
            env.append({"name": entry["name"], "value": address})
        elif field == "metadata.namespace":
            env.append({"name": entry["name"], "value": namespace or "default"})
        else:
            env.append(entry)
    return env


if __name__ == "__main__":
    sys.exit(main(sys.argv))
