"""infra/k8s: the kustomize manifests validate against the Kubernetes schemas, set only environment
variables service/config.py knows, keep secrets out of the repository and hold the security promises
(non-root, read-only root filesystem, only the API reachable, one signing key for every replica)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from service.config import Settings
from tests.fixtures.kustomize import key, render

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"
TARGETS = [K8S / "base", K8S / "overlays" / "example"]
K8S_VERSION = "1.30.0"
KNOWN_ENV = {f"BWV_{name.upper()}" for name in Settings.model_fields}
SIGNING_KEY_PATH = "/var/run/secrets/bwv/signing/signing-key.pem"


def pod_spec(res: dict) -> dict | None:
    if res["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet"):
        return res["spec"]["template"]["spec"]
    return None


def bwv_workloads(resources: list[dict]) -> list[dict]:
    return [r for r in resources if pod_spec(r) is not None and r["metadata"]["labels"].get("app") == "bwv"]


@pytest.fixture(scope="module", params=TARGETS, ids=lambda p: p.name)
def rendered(request) -> list[dict]:
    return render(request.param)


def test_every_resource_validates_against_the_kubernetes_schema(rendered):
    for res in rendered:
        kubernetes_validate.validate(res, K8S_VERSION, strict=True)  # raises with the field that is wrong


def test_the_renderer_agrees_with_kubectl():
    if not shutil.which("kubectl"):
        pytest.skip("kubectl is not installed: the renderer alone checked the manifests")
    for target in TARGETS:
        out = subprocess.run(["kubectl", "kustomize", str(target)], check=True, capture_output=True, text=True).stdout
        theirs = {key(r): r for r in yaml.safe_load_all(out) if r}
        ours = {key(r): r for r in render(target)}
        assert ours == theirs, target


def test_every_environment_variable_is_one_config_knows(rendered):
    by_key = {key(r): r for r in rendered}
    for res in bwv_workloads(rendered):
        for c in pod_spec(res)["containers"]:
            names = {e["name"] for e in c.get("env", [])}
            for src in c.get("envFrom", []):
                if "configMapRef" in src:
                    names |= set(by_key[("ConfigMap", src["configMapRef"]["name"])]["data"])
            unknown = {n for n in names if n not in KNOWN_ENV and not n.startswith("AWS_")}
            assert not unknown, f"{key(res)} sets variables service/config.py does not read: {sorted(unknown)}"


def test_no_secret_is_kept_in_the_repository(rendered):
    assert not [r for r in rendered if r["kind"] == "Secret"]
    for path in K8S.rglob("*.yaml"):
        assert "kind: Secret" not in path.read_text(), path
    readme = (K8S / "README.md").read_text()
    referenced = set()
    for res in rendered:
        spec = pod_spec(res)
        if spec is None:
            continue
        for v in spec.get("volumes", []):
            if "secret" in v:
                referenced.add(v["secret"]["secretName"])
        for c in spec["containers"]:
            referenced |= {s["secretRef"]["name"] for s in c.get("envFrom", []) if "secretRef" in s}
            referenced |= {e["valueFrom"]["secretKeyRef"]["name"] for e in c.get("env", [])
                           if "secretKeyRef" in e.get("valueFrom", {})}
    for name in referenced:
        assert f"create secret generic {name}" in readme, f"README does not say how to create {name}"


def test_bodycam_pods_run_unprivileged_on_a_read_only_root(rendered):
    workloads = bwv_workloads(rendered)
    assert {r["metadata"]["name"] for r in workloads} == {"bwv-api", "bwv-worker", "bwv-migrate"}
    for res in workloads:
        spec = pod_spec(res)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["requests"], key(res)
            mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
            assert {"/tmp", "/var/lib/bwv"} <= mounts, "the only writable paths must be volumes"


def test_api_probes_and_args():
    res = {key(r): r for r in render(K8S / "base")}
    api = pod_spec(res[("Deployment", "bwv-api")])["containers"][0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["args"][0] == "serve"
    assert pod_spec(res[("Deployment", "bwv-worker")])["containers"][0]["args"] == ["worker"]
    assert pod_spec(res[("Job", "bwv-migrate")])["containers"][0]["args"] == ["migrate"]


def test_every_replica_signs_with_the_one_mounted_key(rendered):
    by_key = {key(r): r for r in rendered}
    assert by_key[("ConfigMap", "bwv-config")]["data"]["BWV_SIGNING_KEY_FILE"] == SIGNING_KEY_PATH
    for name in ("bwv-api", "bwv-worker"):
        spec = pod_spec(by_key[("Deployment", name)])
        vol = next(v for v in spec["volumes"] if "secret" in v and v["secret"]["secretName"] == "bwv-signing-key")
        mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == vol["name"])
        assert mount["readOnly"] is True and SIGNING_KEY_PATH.startswith(mount["mountPath"] + "/")


def test_only_the_api_is_reachable(rendered):
    policies = [r for r in rendered if r["kind"] == "NetworkPolicy"]

    def selects(policy, labels):
        return all(labels.get(k) == v for k, v in policy["spec"]["podSelector"]["matchLabels"].items())

    for res in bwv_workloads(rendered):
        labels = res["spec"]["template"]["metadata"]["labels"]
        mine = [p for p in policies if selects(p, labels)]
        assert any("Ingress" in p["spec"]["policyTypes"] for p in mine), key(res)
        ports = [port["port"] for p in mine for rule in p["spec"].get("ingress", []) for port in rule["ports"]]
        assert ports == ([8000] if labels["component"] == "api" else []), key(res)


def test_references_point_at_what_is_rendered(rendered):
    by_key = {key(r): r for r in rendered}
    for res in rendered:
        if res["kind"] == "HorizontalPodAutoscaler":
            assert ("Deployment", res["spec"]["scaleTargetRef"]["name"]) in by_key
        if res["kind"] in ("PodDisruptionBudget", "Service"):
            sel = res["spec"]["selector"].get("matchLabels", res["spec"]["selector"])
            assert any(all(w["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items())
                       for w in rendered if pod_spec(w) is not None), key(res)
        spec = pod_spec(res)
        if spec is None:
            continue
        for v in spec.get("volumes", []):
            if "configMap" in v:
                assert ("ConfigMap", v["configMap"]["name"]) in by_key
        for c in spec["containers"]:
            for src in c.get("envFrom", []):
                if "configMapRef" in src:
                    assert ("ConfigMap", src["configMapRef"]["name"]) in by_key


def test_the_policies_config_map_is_the_repositorys_policies():
    copies = sorted(p.name for p in (K8S / "base" / "policies").iterdir())
    assert copies == sorted(p.name for p in (ROOT / "policies").glob("*.yaml"))
    for name in copies:
        assert (K8S / "base" / "policies" / name).read_bytes() == (ROOT / "policies" / name).read_bytes(), (
            f"infra/k8s/base/policies/{name} differs from policies/{name}: copy it again")
