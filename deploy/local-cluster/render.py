#!/usr/bin/env python3
"""Render a kustomization the way `kubectl kustomize` does, for machines without kubectl or kustomize.

Neither is packaged by Debian, and only Debian's packages, NuGet and npm are reachable here, so run.sh uses
`kubectl kustomize` when kubectl is installed and this otherwise. It supports exactly the kustomization fields our
overlays use and refuses any other, naming it, rather than render something kustomize would not:

  apiVersion, kind        must be kustomize.config.k8s.io/v1beta1 / Kustomization
  resources               files (YAML, one or more documents) and directories holding a kustomization.yaml,
                          relative to the kustomization, loaded depth first in order, as kustomize does
  namespace               sets metadata.namespace on every namespaced object (not on Namespace and the other
                          cluster-scoped kinds listed below) and on RoleBinding/ClusterRoleBinding subjects of kind
                          ServiceAccount, as kustomize's namespace transformer does
  images                  name + newName and/or newTag: rewrites containers[].image and initContainers[].image of
                          pod templates (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job) and of Pods
  (comments)              ignored

The output is the objects, one YAML document each, in kustomize's legacy order (by kind as below, then by name).
tests/MemRL.Deploy.Tests compares it with `kubectl kustomize` where kubectl exists.

    render.py DIR      (DIR holds kustomization.yaml; prints the rendered stream on stdout)
"""

import sys
from pathlib import Path

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "images"}
CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume",
    "StorageClass", "PriorityClass", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
}
# kustomize's legacy sort (api/resource/ordering of kustomize v5): these kinds first in this order, then the rest
# by kind name; ValidatingWebhookConfiguration last.
ORDER_FIRST = [
    "Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
    "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap", "Secret",
    "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume", "PersistentVolumeClaim",
    "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget",
]
ORDER_LAST = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


class RenderError(Exception):
    pass


def load_kustomization(directory: Path) -> dict:
    path = directory / "kustomization.yaml"
    if not path.is_file():
        raise RenderError(f"{directory} holds no kustomization.yaml")
    spec = yaml.safe_load(path.read_text()) or {}
    if not isinstance(spec, dict):
        raise RenderError(f"{path}: expected a mapping, got {type(spec).__name__}")
    unsupported = sorted(set(spec) - SUPPORTED)
    if unsupported:
        raise RenderError(f"{path}: field '{unsupported[0]}' is not supported by render.py "
                          f"(supported: {', '.join(sorted(SUPPORTED))}); use kubectl kustomize")
    if spec.get("kind", "Kustomization") != "Kustomization":
        raise RenderError(f"{path}: kind is '{spec.get('kind')}'; expected 'Kustomization'")
    return spec


def render(directory: Path) -> list:
    spec = load_kustomization(directory)
    objects = []
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            objects.extend(render(target))
        elif target.is_file():
            objects.extend(d for d in yaml.safe_load_all(target.read_text()) if d is not None)
        else:
            raise RenderError(f"{directory / 'kustomization.yaml'}: resource '{entry}' does not exist")
    if "namespace" in spec:
        set_namespace(objects, spec["namespace"])
    for image in spec.get("images", []):
        set_image(objects, image, directory)
    return objects


def set_namespace(objects: list, namespace: str) -> None:
    for obj in objects:
        if obj.get("kind") not in CLUSTER_SCOPED:
            obj.setdefault("metadata", {})["namespace"] = namespace
        if obj.get("kind") in ("RoleBinding", "ClusterRoleBinding"):
            for subject in obj.get("subjects", []):
                if subject.get("kind") == "ServiceAccount":
                    subject["namespace"] = namespace


def pod_specs(obj: dict):
    if obj.get("kind") == "Pod":
        yield obj.get("spec", {})
    elif obj.get("kind") in WORKLOADS:
        yield obj.get("spec", {}).get("template", {}).get("spec", {})
    elif obj.get("kind") == "CronJob":
        yield obj.get("spec", {}).get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})


def set_image(objects: list, image: dict, directory: Path) -> None:
    if "name" not in image or not ({"newName", "newTag"} & set(image)):
        raise RenderError(f"{directory / 'kustomization.yaml'}: an images entry needs name and newName or newTag; "
                          f"got {sorted(image)}")
    extra = sorted(set(image) - {"name", "newName", "newTag"})
    if extra:
        raise RenderError(f"{directory / 'kustomization.yaml'}: images field '{extra[0]}' is not supported by render.py")
    for obj in objects:
        for spec in pod_specs(obj):
            for container in spec.get("containers", []) + spec.get("initContainers", []):
                name, tag = split_image(container.get("image", ""))
                if name == image["name"]:
                    container["image"] = image.get("newName", name) + (
                        f":{image['newTag']}" if "newTag" in image else (f":{tag}" if tag else ""))


def split_image(reference: str):
    # A tag follows the last ':' only if no '/' comes after it (a registry host may carry a port).
    head, sep, tail = reference.rpartition(":")
    if sep and "/" not in tail:
        return head, tail
    return reference, None


def order_key(obj: dict):
    kind = obj.get("kind", "")
    if kind in ORDER_FIRST:
        rank = (0, ORDER_FIRST.index(kind), "")
    elif kind in ORDER_LAST:
        rank = (2, ORDER_LAST.index(kind), "")
    else:
        rank = (1, 0, kind)
    metadata = obj.get("metadata", {})
    return rank, metadata.get("namespace", ""), metadata.get("name", "")


def main(argv: list) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    try:
        objects = sorted(render(Path(argv[1]).resolve()), key=order_key)
    except (RenderError, yaml.YAMLError) as error:
        print(f"render.py: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=True, default_flow_style=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
