"""Tools open beside a running study: optuna-dashboard on its optuna.db and analysis/report.py on its folder.

Run: python benchmarks/beside.py STUDY_DIR --pid DRIVER_PID [--every 1] [--report-every 300]
While the driver runs, an optuna-dashboard server (127.0.0.1, a free port) is asked every `--every`
seconds for what its web page asks for: the study list and the study with all its trials (`/api/studies`,
`/api/studies/<id>`). Every `--report-every` seconds, once a trial has reported, the study's report is built into a scratch file.
At the end it prints the requests, their failures and latencies (median, longest), the trials the
dashboard last saw, and the reports built, failed and marked partial; then stops the dashboard it started
(by its pid). benchmarks/scale.py runs it beside each of its studies (`--beside`).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # after PYTHONPATH: scale.py runs mgen as it was at a commit from a worktree
from cluster.local_cluster import free_port  # noqa: E402


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


class Beside:
    """Starts the dashboard (waits for the study's optuna.db to exist), polls it and builds reports in threads."""

    def __init__(self, study_dir: Path, every: float = 1.0, report_every: float = 300.0):
        self.study_dir, self.every, self.report_every = Path(study_dir), every, report_every
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.trials_seen = 0
        self.reports = {"built": 0, "failed": 0, "partial": 0, "while_running": 0}
        self.report_errors: list[str] = []
        self._stop = threading.Event()
        self._dashboard: subprocess.Popen | None = None
        self._threads = [threading.Thread(target=self._poll, daemon=True), threading.Thread(target=self._report, daemon=True)]

    def start(self) -> Beside:
        for t in self._threads:
            t.start()
        return self

    def _poll(self) -> None:
        db = self.study_dir / "optuna.db"
        while not db.exists():
            if self._stop.wait(0.2):
                return
        port = free_port()
        exe = Path(sys.executable).parent / "optuna-dashboard"
        self._dashboard = subprocess.Popen([str(exe), f"sqlite:///{db}", "--host", "127.0.0.1", "--port", str(port)],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}/api"
        while not self._stop.is_set():
            start = time.perf_counter()
            try:
                studies = get(f"{base}/studies")["study_summaries"]
                for s in studies:
                    self.trials_seen = len(get(f"{base}/studies/{s['study_id']}")["trials"])
            except urllib.error.HTTPError as exc:
                self.errors.append(f"HTTP {exc.code}: {exc.read()[:200]!r}")
            except (urllib.error.URLError, ConnectionError) as exc:  # not listening yet
                if self._dashboard.poll() is not None:
                    self.errors.append(f"the dashboard exited: {self._dashboard.stderr.read()[-500:]!r}")
                    return
                if self.latencies:
                    self.errors.append(str(exc))
                self._stop.wait(0.2)
                continue
            except (KeyError, ValueError) as exc:  # an answer that is not what the page expects
                self.errors.append(f"{type(exc).__name__}: {exc}")
                self._stop.wait(self.every)
                continue
            self.latencies.append(time.perf_counter() - start)
            self._stop.wait(self.every)

    def _report(self) -> None:
        out = Path(tempfile.mkdtemp(prefix="mgen-beside-")) / "report.html"
        while not self._stop.wait(self.report_every):
            if not any(f.stat().st_size for f in self.study_dir.glob("*/result.json")):
                continue  # nothing to report yet
            done = subprocess.run([sys.executable, "analysis/report.py", str(self.study_dir), "--out", str(out)],
                                  cwd=ROOT, capture_output=True, text=True)
            if done.returncode == 0 and out.exists():
                self.reports["built"] += 1
                self.reports["partial"] += "Partial:" in out.read_text()
                # built start to end before the study wrote study.json: it must say partial
                self.reports["while_running"] += not (self.study_dir / "study.json").exists()
            else:
                self.reports["failed"] += 1
                self.report_errors.append(done.stderr[-500:])

    def stop(self) -> dict:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=600)
        if self._dashboard is not None:
            self._dashboard.terminate()
            try:
                self._dashboard.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._dashboard.kill()
        lat = sorted(self.latencies)
        return {"requests": len(lat), "request_errors": len(self.errors), "errors": self.errors[:5],
                "latency_median_ms": 1000 * lat[len(lat) // 2] if lat else None,
                "latency_max_ms": 1000 * lat[-1] if lat else None, "trials_seen": self.trials_seen,
                **{f"reports_{k}": v for k, v in self.reports.items()}, "report_errors": self.report_errors[:2]}


def main() -> None:
    import psutil

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("study_dir", type=Path)
    p.add_argument("--pid", type=int, required=True, help="the study's driver: watch until it exits")
    p.add_argument("--every", type=float, default=1.0)
    p.add_argument("--report-every", type=float, default=300.0)
    args = p.parse_args()
    beside = Beside(args.study_dir, args.every, args.report_every).start()
    while psutil.pid_exists(args.pid) and psutil.Process(args.pid).status() != psutil.STATUS_ZOMBIE:
        time.sleep(1)
    print(json.dumps(beside.stop()))


if __name__ == "__main__":
    main()
