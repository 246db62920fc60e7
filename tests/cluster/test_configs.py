"""The cluster configs: Ray's own schema for the launcher YAMLs, the fields KubeRay requires for the
manifests, and no dashboard, Jobs API, GCS or client port open to the internet anywhere."""
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = [ROOT / "cluster" / "aws.yaml", ROOT / "cluster" / "gcp.yaml"]
KUBERAY = sorted((ROOT / "cluster" / "kuberay").glob("*.yaml"))
RAY_PORTS = {8265, 6379, 10001}  # dashboard and Jobs API, GCS, Ray client
PUBLIC = {"0.0.0.0/0", "::/0", "0.0.0.0", "::"}


def cluster_ray_version() -> str:
    """The one Ray version every cluster config runs (KubeRay's rayVersion), at least the one mgen requires.
    Nodes and the machine that submits must run the same Ray; cluster/README.md says which to install."""
    import re

    from packaging.version import Version

    (version,) = {d["spec"].get("rayVersion") or d["spec"]["rayClusterSpec"]["rayVersion"]
                  for d in kuberay_docs().values() if d["kind"] in ("RayCluster", "RayJob")}
    required = re.search(r'"ray\[[^\]]*\]>=([0-9.]+)"', (ROOT / "pyproject.toml").read_text()).group(1)
    assert Version(version) >= Version(required), (version, required)
    assert f"ray[default]=={version}" in (ROOT / "cluster" / "README.md").read_text()
    return version


def documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def walk(node, path="$"):
    """(path, value) for every dict and scalar in a YAML tree."""
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")


def _ports(rule: dict) -> set[int]:
    ports = set()
    lo, hi = rule.get("FromPort"), rule.get("ToPort")
    if lo is not None:
        ports |= {p for p in RAY_PORTS if int(lo) <= p <= int(hi if hi is not None else lo)}
    for allowed in rule.get("allowed", []):  # GCP firewall rules
        for spec in allowed.get("ports", []) or ["0-65535"]:
            a, _, b = str(spec).partition("-")
            ports |= {p for p in RAY_PORTS if int(a) <= p <= int(b or a)}
        if not allowed.get("ports"):
            ports |= RAY_PORTS
    if rule.get("IpProtocol") == "-1":
        ports |= RAY_PORTS
    return ports


def exposures(doc) -> list[str]:
    """Ways a config opens Ray's ports beyond the cluster: each a readable string (empty when none)."""
    found = []
    for path, node in walk(doc):
        if isinstance(node, str):
            for flag in ("dashboard-host", "dashboard_host", "ray-client-server-host"):
                for host in PUBLIC:
                    if f"--{flag}={host}" in node or f"--{flag} {host}" in node:
                        found.append(f"{path}: {flag} {host}")
        if not isinstance(node, dict):
            continue
        for key in ("dashboard-host", "dashboard_host"):
            if str(node.get(key, "")) in PUBLIC:
                found.append(f"{path}.{key}: {node[key]}")
        cidrs = [r.get("CidrIp") for r in node.get("IpRanges", [])] + [r.get("CidrIpv6") for r in node.get("Ipv6Ranges", [])]
        cidrs += node.get("sourceRanges", [])
        if set(cidrs) & PUBLIC and _ports(node):
            found.append(f"{path}: ports {sorted(_ports(node))} open to {sorted(set(cidrs) & PUBLIC)}")
        if node.get("kind") == "Ingress":
            found.append(f"{path}: an Ingress")
        for key in ("serviceType", "type"):
            if node.get(key) in ("LoadBalancer", "NodePort") and (key == "serviceType" or node is doc.get("spec")):
                found.append(f"{path}.{key}: {node[key]}")
    return found


@pytest.mark.parametrize("path", LAUNCHER, ids=lambda p: p.name)
def test_launcher_configs_pass_rays_own_schema(path):
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = prepare_config(yaml.safe_load(path.read_text()))  # as `ray up` does before it validates
    validate_config(config)  # ray/autoscaler/ray-schema.json
    types = config["available_node_types"]
    assert types[config["head_node_type"]]["resources"] == {"CPU": 0}  # trials never run on the head
    (worker,) = [t for name, t in types.items() if name != config["head_node_type"]]
    assert worker["min_workers"] == 0 and worker["max_workers"] >= 1  # autoscaling GPU workers
    node = worker["node_config"]
    assert node.get("InstanceMarketOptions", {}).get("MarketType") == "spot" or node.get("scheduling", {}).get("preemptible")
    assert node.get("InstanceType", "").startswith("g") or node.get("guestAccelerators")
    version = cluster_ray_version()
    assert config["docker"]["worker_image"] == f"rayproject/ray:{version}-py311-gpu"
    assert config["docker"]["head_image"] == f"rayproject/ray:{version}-py311-cpu"
    assert all("RAY_AUTH_MODE=token" in c for c in config["head_start_ray_commands"] + config["worker_start_ray_commands"])
    assert any("pip install" in c and "/home/ray/mgen" in c for c in config["worker_setup_commands"])


def kuberay_docs() -> dict[str, dict]:
    return {d["kind"]: d for path in KUBERAY for d in documents(path)}


def cluster_specs() -> list[dict]:
    docs = kuberay_docs()
    return [docs["RayCluster"]["spec"], docs["RayJob"]["spec"]["rayClusterSpec"]]


def test_kuberay_manifests_have_the_fields_kuberay_requires():
    docs = kuberay_docs()
    assert {"RayCluster", "RayJob", "NetworkPolicy"} <= set(docs)
    for kind in ("RayCluster", "RayJob"):
        assert docs[kind]["apiVersion"] == "ray.io/v1" and docs[kind]["metadata"]["name"]
    for spec in cluster_specs():
        assert spec["rayVersion"] == cluster_ray_version() and spec["authOptions"]["mode"] == "token"
        head = spec["headGroupSpec"]
        assert isinstance(head["rayStartParams"], dict) and head["rayStartParams"]["num-cpus"] == "0"
        (container,) = head["template"]["spec"]["containers"]
        assert container["image"] and container["name"]
        for group in spec["workerGroupSpecs"]:
            assert group["groupName"] and isinstance(group["rayStartParams"], dict)
            assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
            (worker,) = group["template"]["spec"]["containers"]
            assert worker["image"] and worker["resources"]["limits"]["nvidia.com/gpu"] == "1"
        for c in [container] + [g["template"]["spec"]["containers"][0] for g in spec["workerGroupSpecs"]]:
            (key,) = [e for e in c["env"] if e["name"] == "WANDB_API_KEY"]  # from a Secret, never a value
            assert "value" not in key and key["valueFrom"]["secretKeyRef"]["name"]


def test_the_rayjob_runs_the_study_with_flags_the_study_accepts():
    sys.path.insert(0, str(ROOT / "studies"))
    import shlex

    import gan_collapse

    from mgen.study.flags import parse_args

    argv = shlex.split(kuberay_docs()["RayJob"]["spec"]["entrypoint"])
    assert argv[:2] == ["python", "studies/gan_collapse.py"]
    args = parse_args(gan_collapse.SPEC, argv[2:])
    assert args.budget == "full" and args.gpus_per_trial > 0 and args.storage.startswith("s3://")


@pytest.mark.parametrize("path", LAUNCHER + KUBERAY, ids=lambda p: p.name)
def test_no_config_opens_rays_ports_to_the_internet(path):
    for doc in documents(path):
        assert exposures(doc) == [], path
    text = path.read_text()
    assert "dashboard-host=127.0.0.1" in text or path.parent.name == "kuberay"
    assert "WANDB_API_KEY=" not in text.replace('WANDB_API_KEY="$(python', "")  # only ever from a secret store


def test_the_exposure_check_sees_each_way_of_opening_a_port():
    """The check above can fail: each of these configs opens a Ray port to the internet."""
    open_sg = {"provider": {"security_group": {"IpPermissions": [
        {"FromPort": 8265, "ToPort": 8265, "IpProtocol": "tcp", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]}}}
    all_traffic = {"IpPermissions": [{"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}]}
    firewall = {"rules": [{"sourceRanges": ["0.0.0.0/0"], "allowed": [{"IPProtocol": "tcp", "ports": ["6000-7000"]}]}]}
    public_dashboard = {"head_start_ray_commands": ["ray start --head --dashboard-host=0.0.0.0"]}
    kuberay = {"kind": "RayCluster", "spec": {"headGroupSpec": {"serviceType": "LoadBalancer",
                                                                "rayStartParams": {}}}}
    service = {"kind": "Service", "spec": {"type": "NodePort"}}
    for bad in (open_sg, all_traffic, firewall, public_dashboard, kuberay, service, {"kind": "Ingress"}):
        assert exposures(bad), bad
    ssh_only = {"IpPermissions": [{"FromPort": 22, "ToPort": 22, "IpProtocol": "tcp", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]}
    assert exposures(ssh_only) == []


def test_the_wandb_key_helper_prints_nothing_without_a_secret_store():
    out = subprocess.run([sys.executable, "cluster/wandb_key.py", "aws", "/mgen/wandb_api_key"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true", "HOME": "/nonexistent"})
    assert out.returncode == 0 and out.stdout == "", out.stdout
    assert len(out.stderr.strip().splitlines()) == 1 and "W&B will log offline" in out.stderr
