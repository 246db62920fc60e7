"""Each analysis script on a small real study (real Ray, synthetic motifs); tables match the trials."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mgen.analysis import sensitivity
from mgen.study import Choice
from mgen.studies import run_study
from tests.study.conftest import study_args, tiny_spec

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

MOTIFS = ["--data", "motifs", "--search", "grid", "--no-collapse-stop", "--num-samples", "1",
          "--set", "data_n_samples=512", "--set", "eval_samples=128", "--set", "z_dim=16", "--set", "batch_size=32"]


@pytest.fixture(scope="module")
def studies(local_ray, tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    gan = tiny_spec(space={"dg_ratio": Choice(("1:1", "1:5")), "lr_d": Choice((1e-4, 1e-3)),
                           "conditioning": Choice(("none", "prev+chord/1d")), "seed": Choice((0, 1))},
                    steps=20, eval_every=10)
    run_study(gan, study_args(root, *MOTIFS, "--name", "gan", "--only", "seed=0,1"))
    base = tiny_spec(space={"variant": Choice(("vae", "imle")), "seed": Choice((0, 1))}, steps=20, eval_every=10)
    run_study(base, study_args(root, *MOTIFS, "--name", "base", "--set", "imle_inner_steps=5"))
    return root / "gan", root / "base"


def last_reports(study_dir: Path) -> pd.DataFrame:
    """Each trial's params and last report, read straight from its files (independent of mgen.analysis.results)."""
    rows = []
    for trial in sorted(study_dir.glob("trainable_*")):
        params = json.loads((trial / "params.json").read_text())
        last = pd.read_csv(trial / "progress.csv").iloc[-1]
        rows.append({**params, **{k: last[k] for k in ("coverage", "z_sensitivity", "jsd", "collapsed", "failed", "trial_id")}})
    return pd.DataFrame(rows)


def script(name, *args):
    out = subprocess.run([sys.executable, f"analysis/{name}.py", *map(str, args)], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    return out.stdout


def test_collapse_map_cells_match_the_trials(studies, tmp_path):
    gan, _ = studies
    script("collapse_map", gan, "--out", tmp_path)
    for metric in ("coverage", "diversity", "collapsed", "failed"):
        assert (tmp_path / f"collapse_map_{metric}.png").stat().st_size > 0
        assert (tmp_path / f"trajectory_{metric}.png").stat().st_size > 0
    cells = pd.read_csv(tmp_path / "collapse_map_coverage.csv")
    trials = last_reports(gan)
    assert cells["trials"].sum() == len(trials) == 16
    # lr_d 1e-3 over the recipe's lr_g 1e-3 is the "~1" bin; 1e-4 is "0.1-0.5".
    assert set(cells["lr_ratio"]) == {"~1", "0.1-0.5"}
    for _, cell in cells.iterrows():
        lr_d = 1e-3 if cell["lr_ratio"] == "~1" else 1e-4
        members = trials[(trials["dg_ratio"] == cell["dg_ratio"]) & ("cond: " + trials["conditioning"] == cell["panel"])
                         & np.isclose(trials["lr_d"], lr_d)]
        assert len(members) == cell["trials"] == 2
        assert cell["coverage"] == pytest.approx(members["coverage"].mean())


def test_sensitivity_ranks_the_varied_hyperparameters(studies, tmp_path):
    gan, base = studies
    # z_sensitivity varies between any two trials; coverage may be 0 for all at this tiny budget.
    script("sensitivity", gan, "--baselines", base, "--metric", "z_sensitivity", "--out", tmp_path)
    importance = pd.read_csv(tmp_path / "importance_z_sensitivity.csv", index_col=0)["importance"]
    assert set(importance.index) == {"dg_ratio", "lr_d", "conditioning", "seed"}
    assert importance.sum() == pytest.approx(1.0) and (importance >= 0).all()
    for name in ("marginals_z_sensitivity.png", "expected_max_z_sensitivity.png", "importance_z_sensitivity.md"):
        assert (tmp_path / name).stat().st_size > 0


def test_expected_max_curve_on_known_values():
    n, mean, lo, hi = sensitivity.expected_max(np.array([1.0, 2.0, 3.0]), n_boot=50)
    assert list(n) == [1, 2, 3]
    assert mean == pytest.approx([2.0, 8 / 3, 3.0])  # best of 2 of {1,2,3}: (2 + 3 + 3) / 3
    assert (lo <= mean + 1e-9).all() and (hi >= mean - 1e-9).all()


def test_expected_best_of_a_lower_is_better_metric_is_the_expected_minimum():
    n, mean, lo, hi = sensitivity.expected_max(np.array([1.0, 2.0, 3.0]), n_boot=50, mode="min")
    assert mean == pytest.approx([2.0, 4 / 3, 1.0])  # best of 2 of {1,2,3}: (1 + 1 + 2) / 3
    assert (lo <= mean + 1e-9).all() and (hi >= mean - 1e-9).all()


def test_every_script_ranks_a_lower_is_better_metric_by_its_minimum(studies, tmp_path):
    gan, _ = studies
    trials = last_reports(gan)
    lowest_jsd = {}
    for trial in gan.glob("trainable_*"):
        progress = pd.read_csv(trial / "progress.csv")
        lowest_jsd[progress["trial_id"].iloc[0]] = progress["jsd"].min()
    best_jsd = min(lowest_jsd, key=lowest_jsd.get)
    out = script("best_samples", gan, "--metric", "jsd", "--n", "8", "--out", tmp_path)
    assert f"trial {best_jsd} " in out, (best_jsd, out)
    assert len(trials) == 16
    bad = subprocess.run([sys.executable, "analysis/best_samples.py", str(gan), "--metric", "covrage"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("best_samples: error: unknown metric 'covrage'")


def test_report_conditioning_table_matches_the_trials(studies):
    """Adherence beside collapse, one row per conditioning x D/G ratio, as the trials' last reports say."""
    from mgen.analysis import report

    from mgen.analysis.results import load_study

    gan, _ = studies
    rows = report.conditioning_rows(load_study(str(gan)))
    trials = []
    for trial in sorted(gan.glob("trainable_*")):
        params = json.loads((trial / "params.json").read_text())
        last = pd.read_csv(trial / "progress.csv").iloc[-1]
        trials.append({"conditioning": params["conditioning"], "dg_ratio": params["dg_ratio"],
                       "chord_adherence": last["chord_adherence"]})
    frame = pd.DataFrame(trials)
    assert {(r["conditioning"], r["dg_ratio"]) for r in rows} == set(zip(frame["conditioning"], frame["dg_ratio"]))
    for r in rows:
        cell = frame[(frame["conditioning"] == r["conditioning"]) & (frame["dg_ratio"] == r["dg_ratio"])]
        assert r["trials"] == len(cell)
        assert r["chord_adherence"].startswith(f"{cell['chord_adherence'].mean():.3f}")


def test_baselines_table_matches_the_trials(studies, tmp_path):
    gan, base = studies
    script("baselines", gan, "--baselines", base, "--metric", "coverage", "--out", tmp_path)
    table = pd.read_csv(tmp_path / "baselines.csv")
    assert table["model"].tolist() == ["GAN (best config)", "GAN (median config)", "VAE", "IMLE"]
    assert table["seeds"].tolist() == [2, 2, 2, 2]
    trials = last_reports(base)
    for label, variant in (("VAE", "vae"), ("IMLE", "imle")):
        row = table[table["model"] == label].iloc[0]
        assert row["coverage"] == pytest.approx(trials[trials["variant"] == variant]["coverage"].mean())
    gan_trials = last_reports(gan)
    best = table.iloc[0]["coverage"]
    config_means = gan_trials.groupby(["dg_ratio", "lr_d", "conditioning"])["coverage"].mean()
    assert best == pytest.approx(config_means.max())
    assert "±" in (tmp_path / "baselines.md").read_text() and (tmp_path / "baselines.png").exists()


def test_best_samples_writes_midi_png_and_wav(studies, tmp_path):
    gan, _ = studies
    out = script("best_samples", gan, "--n", "16", "--out", tmp_path)
    assert "audio rendered with sine" in out or "audio rendered with fluidsynth" in out
    for name in ("phrase_00.mid", "phrase_01.mid", "phrase_00.wav", "samples.png"):
        assert (tmp_path / name).stat().st_size > 0
    trial = last_reports(gan)["trial_id"].iloc[0]
    assert f"trial {trial}" in script("best_samples", gan, "--trial", trial, "--out", tmp_path / "t")
    # Through a URI, the checkpoint is pulled into the output folder first.
    script("best_samples", gan.as_uri(), "--out", tmp_path / "uri")
    assert (tmp_path / "uri" / "checkpoint.pt").exists() and (tmp_path / "uri" / "phrase_00.mid").exists()


def test_report_is_one_self_contained_page_that_chromium_renders(studies, tmp_path):
    gan, base = studies
    script("report", gan, "--baselines", base, "--out", tmp_path / "report.html")
    page = (tmp_path / "report.html").read_text()
    for heading in ("Study settings", "Trials", "Conditioning: does G follow its condition?", "Collapse maps",
                    "Hyperparameter sensitivity", "GAN vs baselines", "Best samples"):
        assert heading in page
    assert page.count("data:image/png;base64,") >= 8 and "data:audio/wav;base64," in page
    assert "seed=0,1" in page  # the settings table shows the slice the study ran (--only)
    # study.json's counts say when each was taken (healthy at the best report, the others at the last)
    assert "healthy (best report)" in page and "collapsed (last report)" in page
    assert "src=\"http" not in page and "src=\"/" not in page  # nothing outside the file
    assert "Partial:" not in page  # a finished study
    # The same folder as a running study leaves it (no study.json yet): the report says it is partial.
    import shutil

    running = tmp_path / "running"
    shutil.copytree(gan, running, ignore=shutil.ignore_patterns("study.json"))
    script("report", running, "--out", tmp_path / "partial.html")
    n = len(list(gan.glob("trainable_*")))
    assert f"Partial: {n} trials have reported so far" in (tmp_path / "partial.html").read_text()
    # The opening counts partition the trials as the trial table does (one status each, from the last report).
    counts = {s: 0 for s in ("healthy", "collapsed", "failed")}
    for _, last in last_reports(gan).iterrows():
        counts["failed" if last["failed"] >= 1 else "collapsed" if last["collapsed"] >= 1 else "healthy"] += 1
    assert sum(counts.values()) == len(list(gan.glob("trainable_*")))
    assert (f"at their last report {counts['healthy']} healthy, {counts['collapsed']} collapsed, "
            f"{counts['failed']} failed to train") in page, page[:2000]
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install chromium (see .ci/run)")
        pytest.skip("chromium is not installed")
    shot = tmp_path / "report.png"
    run = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tempfile.mkdtemp()}", "--enable-logging=stderr", "--v=0",
                          "--window-size=1200,2400", f"--screenshot={shot}", (tmp_path / "report.html").as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    assert "Uncaught" not in run.stderr and "Failed to load resource" not in run.stderr
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.std() > 10  # not a blank page


def test_baselines_refuses_trials_that_are_not_on_equal_footing():
    from mgen.analysis import baselines

    from mgen.errors import UserError

    trials = pd.DataFrame({"footing": ["data=bach|g_width=32|steps=1000", "data=bach|g_width=32|steps=4000"]})
    with pytest.raises(UserError, match=r"differ in steps \(steps: 1000, 4000\)"):
        baselines.check_footing(trials)
    baselines.check_footing(trials.iloc[:1])  # one footing: nothing to refuse


def test_baselines_reads_each_trial_at_a_step_or_at_its_last_report_within_a_cpu_budget():
    from mgen.analysis import baselines

    from mgen.analysis.results import StudyResults

    history = pd.DataFrame({"trial_id": ["a"] * 3 + ["b"] * 3, "step": [250, 500, 750] * 2,
                            "train_cpu_seconds": [1.0, 2.0, 3.0, 4.0, 8.0, 12.0],
                            "coverage": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]})
    trials = pd.DataFrame({"trial_id": ["a", "b"], "step": [750, 750], "train_cpu_seconds": [3.0, 12.0],
                           "coverage": [0.3, 0.6]})
    study = StudyResults("constructed", trials, history, {})
    at_step = baselines.read_at(study, step=500)
    assert at_step["coverage"].tolist() == [0.2, 0.5] and at_step["step"].tolist() == [500, 500]
    at_cpu = baselines.read_at(study, cpu_seconds=4.5)  # a: its last report (3 s); b: its first (4 s)
    assert at_cpu["coverage"].tolist() == [0.3, 0.4] and at_cpu["step"].tolist() == [750, 250]
    assert baselines.read_at(study, cpu_seconds=0.5).empty  # no trial had reported within half a second
    with pytest.raises(Exception, match="no report at that step; reports at 250, 500, 750"):
        baselines.read_at(study, step=300)
