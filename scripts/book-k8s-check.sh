#!/usr/bin/env bash
# Checks the YAML that the book's "Going to production" chapter shows (book/src/production/):
#
#   1. every Kubernetes manifest (book/src/production/k8s/*.yaml) validates against the
#      Kubernetes JSON schemas, strictly (an unknown field is an error), for each Kubernetes
#      version in K8S_VERSIONS; plus a few consistency checks the schemas cannot make
#      (Service selectors, named ports, probe ports, the grace period);
#   2. every key path in each Helm values file (book/src/production/helm/*.yaml) exists in the
#      keys of that chart's values.yaml at the pinned chart version, vendored in
#      book/src/production/charts/ (see SOURCES.txt there);
#   3. a self-test: both checks must fail on a typo (a misspelt field in a manifest, a
#      misspelt kind, a misspelt key in each values file, a map where the chart has a list).
#
# Usage:
#   scripts/book-k8s-check.sh                 all of the above
#   scripts/book-k8s-check.sh --no-self-test  checks 1 and 2 only
#   scripts/book-k8s-check.sh --refresh-keys CHART VERSION VALUES_YAML SOURCE
#       write book/src/production/charts/CHART-VERSION.keys from a chart's values.yaml
#       (e.g. from `helm show values grafana/alloy --version 1.11.1 > /tmp/v.yaml`);
#       SOURCE is a one-line note of where that file came from (repository, commit, path).
#
# kubernetes-validate (PyPI, pinned below) ships the schemas of each Kubernetes version in
# its wheel: nothing is downloaded at check time. It is installed once into a virtualenv under
# target/ (git-ignored); a second run reuses it. Needs python3 (3.9+) with venv and pip.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/messages.sh
source "$REPO_ROOT/scripts/messages.sh"

# kubernetes-validate 1.37.0 ships schemas for Kubernetes 1.25 … 1.37.
KUBERNETES_VALIDATE_VERSION=1.37.0
# The oldest Kubernetes the pinned charts accept (mimir-distributed 6.x: kubeVersion ^1.32)
# and the newest kubernetes-validate knows.
K8S_VERSIONS="1.32.0 1.37.0"
VENV=$REPO_ROOT/target/book-k8s/venv
PRODUCTION=$REPO_ROOT/book/src/production

python_for_venv() {
  local candidate
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
  die "no python3 (3.9 or newer, with the venv module) on PATH" \
    "Debian/Ubuntu: apt-get install python3 python3-venv"
}

ensure_venv() {
  local installed=""
  if [[ -x $VENV/bin/python ]]; then
    installed=$("$VENV/bin/python" -c \
      'import importlib.metadata as m; print(m.version("kubernetes-validate"))' 2>/dev/null || true)
  fi
  if [[ $installed == "$KUBERNETES_VALIDATE_VERSION" ]]; then
    return
  fi
  log "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into ${VENV#"$REPO_ROOT"/} (once)"
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$(python_for_venv)" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" ||
    die "pip could not install kubernetes-validate==$KUBERNETES_VALIDATE_VERSION (needs PyPI)"
}

ensure_venv
export BOOK_K8S_VERSIONS=$K8S_VERSIONS BOOK_PRODUCTION_DIR=$PRODUCTION
exec "$VENV/bin/python" - "$@" <<'PY'
"""The checks themselves: see the header of scripts/book-k8s-check.sh."""

import copy
import hashlib
import json
import os
import re
import sys
import time

import yaml
import kubernetes_validate
from kubernetes_validate import utils as kv_utils

PRODUCTION = os.environ["BOOK_PRODUCTION_DIR"]
K8S_VERSIONS = os.environ["BOOK_K8S_VERSIONS"].split()
K8S_DIR = os.path.join(PRODUCTION, "k8s")
HELM_DIR = os.path.join(PRODUCTION, "helm")
CHARTS_DIR = os.path.join(PRODUCTION, "charts")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(PRODUCTION)))

# Below these keys a chart passes a Kubernetes object through as it is (resources,
# affinity, probes, security contexts …): what is allowed there is the Kubernetes API's
# business, not the chart's, even where the chart's default holds only some of the fields.
PASSTHROUGH = {
    "resources", "affinity", "nodeSelector", "annotations", "podAnnotations", "labels",
    "podLabels", "securityContext", "containerSecurityContext", "podSecurityContext",
    "readinessProbe", "livenessProbe", "startupProbe", "lifecycle", "strategy",
    "updateStrategy", "statefulStrategy", "topologySpreadConstraints",
}
# The service's SIGTERM deadline (steps/step6-resources/src/server.rs: "SIGTERM ends the
# process within 10 s whatever clients do").
SERVICE_STOP_SECONDS = 10


def rel(path):
    return os.path.relpath(path, ROOT)


# ---------------------------------------------------------------- YAML with duplicate keys
class StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses a key written twice in one mapping (YAML keeps the last)."""


def _no_duplicates(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def load_all(text, name):
    try:
        return [doc for doc in yaml.load_all(text, Loader=StrictLoader) if doc is not None]
    except yaml.YAMLError as err:
        raise CheckError(f"{name}: not valid YAML: {err}")


class CheckError(Exception):
    pass


# ---------------------------------------------------------------- key paths
SIMPLE = re.compile(r"^[A-Za-z0-9_-]+$")
TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[^."]+')


def encode(path):
    return ".".join(seg if SIMPLE.match(seg) else json.dumps(seg) for seg in path)


def decode(text):
    return tuple(json.loads(tok) if tok.startswith('"') else tok for tok in TOKEN.findall(text))


def kind_of(value):
    if isinstance(value, dict):
        return "map" if value else "open"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "null"
    return "scalar"


def walk_keys(node, path, out):
    out[path] = kind_of(node)
    if isinstance(node, dict):
        for key, value in node.items():
            walk_keys(value, path + (str(key),), out)


def read_keys(chart, version):
    """The vendored key list of a chart version: {path: kind}, its header, and the extras."""
    path = os.path.join(CHARTS_DIR, f"{chart}-{version}.keys")
    if not os.path.exists(path):
        raise CheckError(f"no vendored key list {rel(path)} for chart {chart} {version} "
                         "(scripts/book-k8s-check.sh --refresh-keys writes one)")
    keys, header = {(): "map"}, []
    for file in (path, os.path.join(CHARTS_DIR, f"{chart}-{version}.extra-keys")):
        if not os.path.exists(file):
            continue
        with open(file, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                line = line.rstrip("\n")
                if not line.strip():
                    continue
                if line.startswith("#"):
                    if file == path:
                        header.append(line)
                    continue
                fields = line.split("\t")
                if len(fields) < 2 or fields[1] not in ("map", "open", "list", "null", "scalar"):
                    raise CheckError(f"{rel(file)}:{number}: expected 'path<TAB>kind', got {line!r}")
                keys[decode(fields[0])] = fields[1]
    return keys, header


def refresh_keys(chart, version, values_file, source):
    with open(values_file, "rb") as handle:
        raw = handle.read()
    values = yaml.safe_load(raw) or {}
    found = {}
    walk_keys(values, (), found)
    out = os.path.join(CHARTS_DIR, f"{chart}-{version}.keys")
    os.makedirs(CHARTS_DIR, exist_ok=True)
    with open(out, "w", encoding="utf-8") as handle:
        handle.write(f"# Key paths of values.yaml of the Helm chart {chart} {version}, one a line:\n"
                     "# path<TAB>kind (map: its keys are listed; open: an empty map, any key below;\n"
                     "# list, scalar, null: what the chart's default is). Generated by\n"
                     "# scripts/book-k8s-check.sh --refresh-keys; do not edit (add keys the chart's\n"
                     f"# templates read but values.yaml lacks to {chart}-{version}.extra-keys).\n"
                     f"# source: {source}\n"
                     f"# sha256 of that values.yaml: {hashlib.sha256(raw).hexdigest()}\n"
                     "# coverage: complete\n")
        for path in sorted(p for p in found if p):
            handle.write(f"{encode(path)}\t{found[path]}\n")
    print(f"wrote {rel(out)}: {len(found) - 1} key paths")


# ---------------------------------------------------------------- Helm values check
CHART_LINE = re.compile(r"^# chart: (\S+) (\S+)\s*$", re.M)


def values_problems(values, keys, partial=False):
    """Walk a values tree against a key list; return (problems, checked paths)."""
    problems, checked = [], []

    def visit(node, path):
        for key, value in node.items():
            here = path + (str(key),)
            known = keys.get(here)
            if known is None:
                hint = ("; the vendored list is partial: check the chart's values.yaml and "
                        "add the key to the list") if partial else ""
                problems.append(f"{encode(here)}: not a key of the chart's values.yaml{hint}")
                continue
            checked.append(here)
            if str(key) in PASSTHROUGH or known in ("open", "null"):
                continue  # free-form below this key
            if isinstance(value, dict):
                if known == "map":
                    visit(value, here)
                elif known == "list":
                    problems.append(f"{encode(here)}: a map here, but a list in the chart")
                else:
                    problems.append(f"{encode(here)}: a map here, but a {known} value in the chart")
            elif isinstance(value, list) and known == "map":
                problems.append(f"{encode(here)}: a list here, but a map in the chart")
            elif known == "list" and value is not None and not isinstance(value, list):
                problems.append(f"{encode(here)}: a {kind_of(value)} here, but a list in the chart")

    if not isinstance(values, dict):
        return ["the file is not a YAML map"], checked
    visit(values, ())
    return problems, checked


def check_values_file(path, text=None):
    """Problems of one values file (list of strings) and what it was checked against."""
    if text is None:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    match = CHART_LINE.search(text)
    if not match:
        return [f"{rel(path)}: no '# chart: NAME VERSION' line naming the chart it is for"], None, []
    chart, version = match.groups()
    keys, header = read_keys(chart, version)
    partial = any(line.strip() == "# coverage: partial" for line in header)
    docs = load_all(text, rel(path))
    if len(docs) != 1:
        return [f"{rel(path)}: expected one YAML document, found {len(docs)}"], (chart, version), []
    problems, checked = values_problems(docs[0], keys, partial)
    return [f"{rel(path)}: {p}" for p in problems], (chart, version, partial), checked


# ---------------------------------------------------------------- Kubernetes manifests
def validate_manifest_doc(doc, version):
    """None if the document validates (strictly) against this Kubernetes version, else why."""
    if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
        return "not a Kubernetes object (no apiVersion/kind)"
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kv_utils.ValidationError as err:
        where = ".".join(str(p) for p in err.path) or "(top level)"
        return f"{where}: {err.message}"
    except kv_utils.SchemaNotFoundError as err:
        return f"no schema for {doc.get('apiVersion')} {doc.get('kind')} in Kubernetes {version} ({err.message})"
    return None


def consistency_problems(docs):
    """What a schema cannot see: names that must match between objects of one file."""
    problems = []
    workloads = [d for d in docs if d.get("kind") in ("Deployment", "StatefulSet", "DaemonSet")]
    for service in (d for d in docs if d.get("kind") == "Service"):
        selector = (service.get("spec") or {}).get("selector") or {}
        name = service["metadata"]["name"]
        targets = [w for w in workloads
                   if selector and selector.items() <= ((w["spec"]["template"]["metadata"].get("labels") or {}).items())]
        if not targets:
            problems.append(f"Service {name}: its selector {selector} matches no pod template here")
            continue
        port_names = {p.get("name") for w in targets
                      for c in w["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        for port in service["spec"].get("ports", []):
            target = port.get("targetPort")
            if isinstance(target, str) and target not in port_names:
                problems.append(f"Service {name}: targetPort {target!r} is no container port name")
    for workload in workloads:
        name = workload["metadata"]["name"]
        selector = workload["spec"].get("selector", {}).get("matchLabels", {})
        labels = workload["spec"]["template"]["metadata"].get("labels") or {}
        if not selector.items() <= labels.items():
            problems.append(f"{workload['kind']} {name}: selector {selector} does not match its pod labels")
        pod = workload["spec"]["template"]["spec"]
        for container in pod["containers"]:
            names = {p.get("name") for p in container.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                port = ((container.get(probe) or {}).get("httpGet") or {}).get("port")
                if isinstance(port, str) and port not in names:
                    problems.append(f"{name}/{container['name']}: {probe} uses port {port!r}, "
                                    "which the container does not name")
            sleep = (((container.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}).get("seconds", 0)
            grace = pod.get("terminationGracePeriodSeconds", 30)
            if grace <= sleep + SERVICE_STOP_SECONDS:
                problems.append(f"{name}/{container['name']}: terminationGracePeriodSeconds {grace} "
                                f"leaves no margin over the preStop sleep ({sleep} s) plus the "
                                f"service's {SERVICE_STOP_SECONDS} s stop deadline")
    return problems


def check_manifest_text(text, name):
    docs = load_all(text, name)
    if not docs:
        return [f"{name}: no Kubernetes object in it"], 0
    problems = []
    for version in K8S_VERSIONS:
        for doc in docs:
            why = validate_manifest_doc(doc, version)
            if why:
                label = f"{doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"
                problems.append(f"{name}: {label} against Kubernetes {version}: {why}")
    if not problems:
        problems += [f"{name}: {p}" for p in consistency_problems(docs)]
    return problems, len(docs)


def yaml_files(directory):
    return sorted(os.path.join(directory, f) for f in os.listdir(directory)
                  if f.endswith((".yaml", ".yml")))


# ---------------------------------------------------------------- self-test
def self_test(manifests, values_files):
    """Each check must fail on a typo; return the failures of the self-test."""
    failures = []

    def expect(problems, needle, what):
        if not any(needle in p for p in problems):
            failures.append(f"self-test: {what} went unnoticed (wanted a problem naming {needle!r}; "
                            f"got {problems or 'none'})")
        else:
            print(f"    ok: {what} -> {next(p for p in problems if needle in p)}")

    with open(manifests[0], encoding="utf-8") as handle:
        text = handle.read()
    name = rel(manifests[0])
    for field, typo in (("terminationGracePeriodSeconds:", "terminationGracePeriodSecond:"),
                        ("readinessProbe:", "readynessProbe:")):
        if field in text:
            problems, _ = check_manifest_text(text.replace(field, typo, 1), name)
            expect(problems, typo.rstrip(":"), f"a misspelt field ({typo.rstrip(':')}) in {name}")
    if "kind: Deployment" in text:
        problems, _ = check_manifest_text(text.replace("kind: Deployment", "kind: Deploymnet", 1), name)
        expect(problems, "Deploymnet", f"a misspelt kind (Deploymnet) in {name}")
    if "port: http" in text:
        problems, _ = check_manifest_text(text.replace("port: http", "port: htpp", 1), name)
        expect(problems, "htpp", f"a probe on a port name that does not exist (htpp) in {name}")

    for path in values_files:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        _, target, checked = check_values_file(path, text)
        values = load_all(text, rel(path))[0]
        deep = [p for p in checked if len(p) >= 2] or checked
        if not deep:
            continue
        victim = deep[0]
        mutated = copy.deepcopy(values)
        parent = mutated
        for seg in victim[:-1]:
            parent = parent[seg]
        word = victim[-1]
        # swap two neighbouring letters ("type" -> "tpye"), the commonest typo
        typo = word[0] + word[2] + word[1] + word[3:] if len(word) >= 3 and word[1] != word[2] else word + "s"
        parent[typo] = parent.pop(victim[-1])
        chart, version = target[0], target[1]
        keys, header = read_keys(chart, version)
        problems, _ = values_problems(mutated, keys, target[2])
        expect(problems, encode(victim[:-1] + (typo,)),
               f"a misspelt key ({encode(victim[:-1] + (typo,))}) in {rel(path)}")
        lists = [p for p in checked if keys.get(p) == "list" and p[-1] not in PASSTHROUGH]
        if lists:
            mutated = copy.deepcopy(values)
            parent = mutated
            for seg in lists[0][:-1]:
                parent = parent[seg]
            parent[lists[0][-1]] = {"name": "x"}
            problems, _ = values_problems(mutated, keys, target[2])
            expect(problems, encode(lists[0]),
                   f"a map where the chart has a list ({encode(lists[0])}) in {rel(path)}")
    return failures


# ---------------------------------------------------------------- main
def main(argv):
    if argv[:1] == ["--refresh-keys"]:
        if len(argv) != 5:
            sys.exit("usage: scripts/book-k8s-check.sh --refresh-keys CHART VERSION VALUES_YAML SOURCE")
        refresh_keys(*argv[1:])
        return 0
    unknown = [a for a in argv if a != "--no-self-test"]
    if unknown:
        sys.exit(f"unknown argument(s): {' '.join(unknown)} (see the script's header)")
    started = time.monotonic()
    failures = []

    manifests = yaml_files(K8S_DIR)
    print(f"==> book k8s: {len(manifests)} manifest file(s) against Kubernetes "
          f"{', '.join(K8S_VERSIONS)} (kubernetes-validate {kubernetes_validate.__version__}, strict)")
    if not manifests:
        failures.append(f"no manifests in {rel(K8S_DIR)}")
    for path in manifests:
        with open(path, encoding="utf-8") as handle:
            problems, count = check_manifest_text(handle.read(), rel(path))
        failures += problems
        if not problems:
            print(f"    ok: {rel(path)} ({count} object(s))")

    values_files = yaml_files(HELM_DIR)
    print(f"==> book k8s: {len(values_files)} Helm values file(s) against the vendored chart keys")
    if not values_files:
        failures.append(f"no values files in {rel(HELM_DIR)}")
    for path in values_files:
        problems, target, checked = check_values_file(path)
        failures += problems
        if not problems:
            chart, version, partial = target
            note = " (PARTIAL key list: see charts/SOURCES.txt)" if partial else ""
            print(f"    ok: {rel(path)}: {len(checked)} key path(s) in {chart} {version}{note}")

    if "--no-self-test" not in argv and not failures:
        print("==> book k8s: self-test (each check must catch a typo)")
        failures += self_test(manifests, values_files)

    elapsed = time.monotonic() - started
    if failures:
        print(f"==> error: the production chapter's YAML has {len(failures)} problem(s):", file=sys.stderr)
        for failure in failures:
            print(f"    {failure}", file=sys.stderr)
        return 1
    print(f"==> book k8s: all checks passed in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except CheckError as err:
        print(f"==> error: {err}", file=sys.stderr)
        sys.exit(1)
PY
