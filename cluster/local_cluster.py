"""A multi-node Ray cluster on one machine, every port on 127.0.0.1: a head and N worker nodes, each its
own raylet with its own CPUs, for trying `ray job submit` against more than one node.

    python cluster/local_cluster.py start --workers 2 --cpus-per-worker 1     # prints the address
    RAY_AUTH_MODE=token ray job submit --address http://127.0.0.1:8265 --working-dir . -- \\
        python studies/gan_collapse.py --budget smoke --storage "$PWD/results"
    python cluster/local_cluster.py stop                                      # only these nodes

One supervisor process starts the nodes with ray.cluster_utils.Cluster and keeps them up. Every node
keeps its files under one root folder (`--root`, default /tmp/mgen-cluster-<user>; Ray's socket paths
must stay under 107 bytes). `stop` asks the supervisor to shut its nodes down, then ends whatever is
left of what it started: the processes that inherited its RAY_TMPDIR=root (nodes, workers, a job's
driver), never another Ray on the machine (`ray stop` would stop them all, a user's own cluster too). `cluster.json`
in the root records the supervisor's pid, the addresses and the node ids; `cluster.log` its output. The head runs no trials (0 CPUs), as on the cloud configs: trials land on the worker nodes.
Token authentication is on (RAY_AUTH_MODE=token): the head writes ~/.ray/auth_token if missing, and
the workers and `ray job submit` on this machine read it from there.
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from mgen.study.processes import terminate  # noqa: F401 (also the tests' SIGTERM-then-SIGKILL loop)

DEFAULT_ROOT = f"/tmp/mgen-cluster-{getpass.getuser()}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ray_env(root: Path) -> dict[str, str]:
    # A single-machine cluster: without RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 Ray replaces 127.0.0.1 by the
    # machine's routable address. With it, `ray start --address` refuses to add nodes, so the nodes are
    # started by one supervisor process through ray.cluster_utils.Cluster (Ray's own multi-node-on-one-
    # machine tool) and stay up until `stop`.
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token", "RAY_TMPDIR": str(root)}
    env.pop("RAY_ADDRESS", None)  # the head must not join whatever RAY_ADDRESS names
    return env


def serve(root: Path, workers: int, cpus_per_worker: float, head_cpus: float, gcs_port: int, dashboard_port: int) -> int:
    """The supervisor: start the nodes, write cluster.json, and shut them down on SIGTERM."""
    from ray.cluster_utils import Cluster

    # Cluster records the head's address in $RAY_TMPDIR/ray/ray_current_cluster, and a job's supervisor
    # looks for it in the node's temp_dir: with both the same folder, a submitted job's driver joins this
    # cluster (with temp_dir=root it found no record and joined any Ray it saw running on the machine).
    temp_dir = root / "ray"
    temp_dir.mkdir(parents=True, exist_ok=True)
    node = {"node_ip_address": "127.0.0.1", "temp_dir": str(temp_dir), "num_gpus": 0}
    ports = lambda: {"dashboard_agent_listen_port": free_port(), "metrics_export_port": free_port(),  # noqa: E731
                     "runtime_env_agent_port": free_port()}  # fixed by default: they would clash between nodes
    dashboard = dashboard_port or free_port()
    cluster = Cluster(initialize_head=True, head_node_args={
        **node, **ports(), "num_cpus": head_cpus, "gcs_server_port": gcs_port or free_port(),
        "include_dashboard": True, "dashboard_host": "127.0.0.1", "dashboard_port": dashboard})
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    try:
        # Each worker keeps its own temp folder, as on separate machines: with one shared folder, a
        # worker's runtime-env agent deleted the job's unpacked working_dir (the driver's cwd on the head)
        # when its last trial ended, and Tune failed at the end with FileNotFoundError.
        nodes = [cluster.add_node(**{**node, "temp_dir": str(root / f"w{i + 1}")}, **ports(), num_cpus=cpus_per_worker)
                 for i in range(workers)]
        cluster.wait_for_nodes()
        info = {"pid": os.getpid(), "root": str(root), "gcs": cluster.address,
                "address": f"http://127.0.0.1:{dashboard}", "nodes": 1 + workers,
                "node_ids": [cluster.head_node.node_id] + [n.node_id for n in nodes],
                "cpus": {"head": head_cpus, "worker": cpus_per_worker}}
        tmp = root / "cluster.json.tmp"
        tmp.write_text(json.dumps(info, indent=1))
        tmp.rename(root / "cluster.json")
        while not stopping:
            time.sleep(0.5)
    finally:
        cluster.shutdown()
    return 0


def start(root: Path, workers: int, cpus_per_worker: float, head_cpus: float, gcs_port: int, dashboard_port: int) -> dict:
    if ours(root):
        raise SystemExit(f"local_cluster: a cluster already runs under {root}; stop it first "
                         f"(python cluster/local_cluster.py stop --root {root})")
    root.mkdir(parents=True, exist_ok=True)
    (root / "cluster.json").unlink(missing_ok=True)
    log = open(root / "cluster.log", "w")
    proc = subprocess.Popen([sys.executable, __file__, "serve", "--root", str(root), "--workers", str(workers),
                             "--cpus-per-worker", str(cpus_per_worker), "--head-cpus", str(head_cpus),
                             "--port", str(gcs_port), "--dashboard-port", str(dashboard_port)],
                            env=ray_env(root), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)  # outlives this command; `stop` ends it
    deadline = time.time() + 180
    while not (root / "cluster.json").exists():
        if proc.poll() is not None or time.time() > deadline:
            stop(root)
            tail = (root / "cluster.log").read_text(errors="ignore").strip().splitlines()[-1:] or ["no output"]
            raise SystemExit(f"local_cluster: the nodes did not start: {tail[0]} (see {root}/cluster.log; "
                             "everything started was stopped)")
        time.sleep(0.5)
    return json.loads((root / "cluster.json").read_text())


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def ours(root: Path) -> list[int]:
    """This cluster's processes: the supervisor and everything it started (nodes, their workers, a
    submitted job's driver), found by the environment they inherited from it, RAY_TMPDIR=root. Not a
    command line that merely names the folder (a user's shell), and never this process or its parents."""
    pids, marker = [], b"\0RAY_TMPDIR=" + str(root).encode() + b"\0"
    skip = _ancestors()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            env = b"\0" + Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if marker in env + b"\0" and int(pid) not in skip:
            pids.append(int(pid))
    return pids


def stop(root: Path, timeout: float = 30.0) -> int:
    """The supervisor shuts its nodes down; then SIGTERM and SIGKILL to whatever of this cluster is left
    (`ours`, and no other process). Returns how many processes there were."""
    found = ours(root)
    try:
        pid = json.loads((root / "cluster.json").read_text())["pid"]
    except (OSError, ValueError, KeyError):
        pid = None
    if pid in found:
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + timeout
        while pid in ours(root) and time.time() < deadline:
            time.sleep(0.2)
    terminate(lambda: ours(root), timeout)
    (root / "cluster.json").unlink(missing_ok=True)
    return len(found)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=("start", "stop", "serve"), help="serve: the supervisor that start runs")
    p.add_argument("--root", default=DEFAULT_ROOT, help=f"folder for the nodes' files (default {DEFAULT_ROOT})")
    p.add_argument("--workers", type=int, default=2, help="worker nodes besides the head")
    p.add_argument("--cpus-per-worker", type=float, default=1)
    p.add_argument("--head-cpus", type=float, default=0, help="CPUs the head offers to trials (default none)")
    p.add_argument("--port", type=int, default=0, help="GCS port (default: a free one)")
    p.add_argument("--dashboard-port", type=int, default=0, help="dashboard and Jobs API port (default: a free one)")
    args = p.parse_args(argv)
    root = Path(args.root).resolve()
    if len(str(root)) > 32:
        raise SystemExit(f"local_cluster: --root {root} is too long; Ray's socket paths under it must stay "
                         "under 107 bytes (use a short folder such as /tmp/mgen-cluster)")
    if args.action == "stop":
        print(f"stopped {stop(root)} processes under {root}")
        return 0
    if args.action == "serve":
        return serve(root, args.workers, args.cpus_per_worker, args.head_cpus, args.port, args.dashboard_port)
    if args.workers < 1 or args.cpus_per_worker <= 0:
        raise SystemExit("local_cluster: --workers must be at least 1 and --cpus-per-worker above 0")
    info = start(root, args.workers, args.cpus_per_worker, args.head_cpus, args.port, args.dashboard_port)
    print(f"{info['nodes']} nodes on 127.0.0.1 under {root}\n"
          f"address: {info['address']}   (RAY_AUTH_MODE=token ray job submit --address {info['address']} ...)\n"
          f"stop:    python cluster/local_cluster.py stop --root {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
