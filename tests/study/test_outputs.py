"""What a study leaves: W&B offline records read back from the run files, Tune results with scalars only, the
stored trial config that mgen train retrains, and the Optuna storage optuna-dashboard browses."""
import json
from pathlib import Path

import pandas as pd
import pytest

from mgen.study import Choice
from mgen.studies import main
from mgen.study.wandb_offline import items, study_runs
from mgen.study.wandb_offline import records as wandb_records
from tests.study.conftest import reports, tiny_spec, trial_dirs

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def study(local_ray, tmp_path_factory) -> Path:
    """A two-trial study on planted motifs (music: bars, MIDI, audio) with W&B offline."""
    results = tmp_path_factory.mktemp("wandb") / "results"
    spec = tiny_spec(space={"dg_ratio": Choice(("1:1", "2:1"))}, steps=40, eval_every=10)
    code = main(spec, ["--storage", str(results), "--num-cpus", "2", "--name", "w", "--search", "grid",
                       "--num-samples", "1", "--data", "motifs", "--no-collapse-stop"])
    assert code == 0
    return results / "w"


def runs(study: Path) -> dict[str, list]:
    """job type -> [records of each run]."""
    out: dict[str, list] = {}
    for path in sorted((study / "wandb").glob("offline-run-*/run-*.wandb")):
        records = list(wandb_records(path))
        (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
        out.setdefault(run.job_type, []).append(records)
    return out


def of(records, kind):
    return [getattr(r, kind) for r in records if r.WhichOneof("record_type") == kind]


def test_each_trial_is_a_named_tagged_run_with_a_clean_config(study):
    trials = runs(study)["trial"]
    assert len(trials) == 2
    names = set()
    for records in trials:
        (run,) = of(records, "run")
        names.add(run.display_name)
        assert run.run_group == "w" and "gan" in run.tags and "motifs" in run.tags
        config = items(run.config.update)
        # The full trial config, the study-level words and numeric axes; none of Ray's bookkeeping.
        assert {"lr_d", "g_width", "d_steps", "dg_ratio", "log2_dg_ratio", "log10_lr_ratio"} <= set(config)
        assert config["log2_dg_ratio"] == {"1:1": 0.0, "2:1": 1.0}[config["dg_ratio"]]
        assert not {"trial_log_path", "pid", "hostname", "node_ip", "date"} & set(config)
        later = {k for c in of(records, "config") for k in items(c.update)}
        assert "real/notes_per_bar" in later and not {"trial_log_path", "pid", "hostname"} & later
    assert names == {"dg_ratio=1:1", "dg_ratio=2:1"}


def test_history_uses_the_training_step_groups_metrics_and_summaries_follow_direction(study):
    records = runs(study)["trial"][0]
    metrics = {m.name or m.glob_name: m for m in of(records, "metric")}
    assert metrics["*"].step_metric == "step"
    assert metrics["quality/coverage"].summary.max and metrics["quality/frechet_distance"].summary.min
    assert metrics["collapse/collapsed"].summary.min
    assert metrics["conditioning/chord_adherence"].summary.max  # adherence beside collapse, its own group
    history = [items(h.item) for h in of(records, "history")]
    reports = [h for h in history if "quality/coverage" in h]
    assert [h["step"] for h in reports] == [10, 20, 30, 40]
    assert all("conditioning/chord_adherence" in h and "conditioning/ctnctr" in h for h in reports)
    assert all(k.split("/")[0] in ("train", "quality", "collapse", "modes", "music", "conditioning", "samples", "step")
               or k.startswith("_") for h in history for k in h)
    assert not any(k.endswith("_real") for h in history for k in h)  # constants went to the config
    assert reports[0]["samples/real/_type"] == "image-file" and "samples/real/_type" not in reports[1]
    assert all(h["samples/generated/_type"] == "image-file" for h in reports)
    assert reports[0]["samples/generated/height"] > 100  # a readable picture, not 128 x 5 pixels


def test_the_end_of_a_trial_logs_audio_a_samples_table_and_the_best_model(study):
    records = runs(study)["trial"][0]
    final = [items(h.item) for h in of(records, "history") if "samples/audio/_type" in items(h.item)]
    assert final and final[0]["samples/audio/_type"] == "audio-file"
    assert final[0]["samples/table/_type"] == "table-file"
    artifacts = {a.type: a for a in of(records, "artifact")}
    assert {e.path for e in artifacts["samples"].manifest.contents} == {"samples.mid", "samples.wav"}
    assert "best" in artifacts["model"].aliases
    (entry,) = artifacts["model"].manifest.contents
    assert entry.path == "checkpoint.pt" and entry.ref.startswith("file://") and Path(entry.ref[7:]).exists()


def test_one_study_level_run_holds_the_trials_table(study):
    (records,) = runs(study)["study"]
    (run,) = of(records, "run")
    assert run.display_name == "w (study)" and run.run_group == "w"
    table = [items(h.item) for h in of(records, "history")]
    assert table and table[0]["trials/_type"] == "table-file" and table[0]["trials/nrows"] == 2
    assert table[0]["collapse_map/nrows"] == 2  # the map's cells: one per D/G ratio, with trials and collapsed/failed shares
    # the report's sensitivity (issue #29): expected best against trials run, per method and D/G ratio, and
    # the marginal effects, as tables and pictures
    assert table[0]["expected_best/_type"] == "table-file" and table[0]["marginal_effects/_type"] == "table-file"
    assert table[0]["sensitivity/expected_best/_type"] == "image-file"
    assert table[0]["sensitivity/marginal_effects/_type"] == "image-file"
    metric = json.loads((study / "study.json").read_text())["metric"]
    for name in (f"collapse_map_{metric}", "collapse_map_collapsed", "trajectory_failed"):  # the pictures too
        assert table[0][f"maps/{name}/_type"] == "image-file", sorted(table[0])
    summary = {k: v for s in of(records, "summary") for k, v in items(s.update).items()}
    assert summary["trials"] == 2


def test_tune_results_hold_scalars_and_pictures_sit_in_the_checkpoints(study):
    for trial in trial_dirs(study):
        size = (trial / "result.json").stat().st_size
        lines = (trial / "result.json").read_text().splitlines()
        assert len(lines) == 4 and size / len(lines) < 8_000, size  # was 677 KB for three reports
        for line in lines:
            assert all(not isinstance(v, (list, dict)) or k == "config" for k, v in json.loads(line).items())
        first = sorted(trial.glob("checkpoint_*"))[0]
        assert {"checkpoint.pt", "config.yaml", "samples.png", "samples.npz", "real.png"} <= {p.name for p in first.iterdir()}


@pytest.mark.parametrize("stored", ["params.json", "config.yaml"])
def test_a_trials_stored_config_retrains_with_mgen_train_to_the_same_metrics(study, stored, tmp_path):
    import pandas as pd

    from mgen.cli import main as mgen_main

    import torch

    trial = trial_dirs(study)[0]
    config = trial / stored if stored == "params.json" else sorted(trial.glob("checkpoint_*"))[-1] / stored
    # With the trial's one thread (--cpus-per-trial 1): torch sums in another order on two, and the recipe's
    # GAN carries that rounding into its losses' sixth digit within 40 iterations.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert mgen_main(["train", "--config", str(config), "--out", str(tmp_path / "again")]) == 0
    finally:
        torch.set_num_threads(threads)
    again = json.loads((tmp_path / "again" / "metrics.jsonl").read_text().splitlines()[-1].replace("NaN", "null"))
    there = pd.read_csv(trial / "progress.csv").iloc[-1]
    for key in ("loss_d", "loss_g", "coverage", "precision", "diversity", "z_sensitivity", "music_overlap"):
        assert again[key] == pytest.approx(float(there[key]), rel=1e-6), key


def test_a_grid_study_is_stored_in_optuna_storage_for_optuna_dashboard(study):
    import optuna

    stored = optuna.load_study(study_name="w", storage=f"sqlite:///{study / 'optuna.db'}")
    assert len(stored.trials) == 2 and stored.direction == optuna.study.StudyDirection.MAXIMIZE
    assert {t.params["dg_ratio"] for t in stored.trials} == {"1:1", "2:1"}
    for t in stored.trials:
        assert t.state == optuna.trial.TrialState.COMPLETE and sorted(t.intermediate_values) == [10, 20, 30, 40]
        assert t.value == max(t.intermediate_values.values())


def test_the_study_runs_map_table_is_the_maps_own(study):
    """The W&B study run's collapse-map table is the map's cells (what the figures show), computed once."""
    from mgen.analysis.maps import map_table
    from mgen.analysis.results import load_study
    from mgen.analysis.wandb_study import study_tables

    summary, loaded = json.loads((study / "study.json").read_text()), load_study(str(study))
    cells, metric = study_tables(summary, loaded)["collapse_map"], summary["metric"]
    mine = map_table(loaded, metric)
    assert len(cells) == 2 and {"collapsed", "failed"} <= set(cells)
    assert cells[metric].tolist() == mine[metric].tolist() and cells["trials"].tolist() == mine["trials"].tolist()
    assert cells["collapsed"].tolist() == map_table(loaded, "collapsed")["collapsed"].tolist()
    # and its sensitivity tables are the report's: one computation for both
    from mgen.analysis.sensitivity import expected_max_curves, marginal_effects

    tables = study_tables(summary, loaded)
    pd.testing.assert_frame_equal(tables["expected_best"], expected_max_curves(loaded.trials, metric))
    pd.testing.assert_frame_equal(tables["marginal_effects"], marginal_effects(loaded.trials, metric))
    curves = tables["expected_best"].groupby("group")
    assert curves["n"].max().to_dict() == {"method=gan": 2, "gan dg_ratio=1:1": 1, "gan dg_ratio=2:1": 1}
    for ratio, value in loaded.trials.set_index("dg_ratio")[metric].items():  # one trial a ratio: its best of 1 is its value
        assert curves.get_group(f"gan dg_ratio={ratio}")["expected_best"].item() == pytest.approx(value)
    gan = curves.get_group("method=gan").set_index("n")["expected_best"]
    assert gan[2] == pytest.approx(loaded.trials[metric].max()) and gan[1] == pytest.approx(loaded.trials[metric].mean())


def test_the_study_run_importances_are_the_reports():
    from mgen.analysis.sensitivity import importances
    from mgen.analysis.wandb_study import study_tables

    # Six trials: the metric depends on dg_ratio only; lr_d is noise.
    ranked = []
    for i, (ratio, lr) in enumerate([("1:1", 1e-4), ("1:1", 5e-4), ("1:1", 1e-3), ("5:1", 1e-4), ("5:1", 5e-4), ("5:1", 1e-3)]):
        value = 0.3 + 0.01 * i if ratio == "1:1" else -1.0
        ranked.append({"trial_id": str(i), "status": "healthy" if value > 0 else "failed", "best": value,
                       "control": False, "params": {"dg_ratio": ratio, "lr_d": lr}})
    tables = study_tables({"name": "s", "mode": "max", "ranked": ranked})
    importance = tables["importance"].set_index("param")["importance"]
    assert importance["dg_ratio"] > 0.9 > importance["lr_d"] and set(tables["importance"]["trials"]) == {6}
    # The report's computation, the same numbers: one fANOVA for both.
    frame = pd.DataFrame([{"param/dg_ratio": x["params"]["dg_ratio"], "param/lr_d": x["params"]["lr_d"], "v": x["best"]}
                          for x in ranked])
    assert importances(frame, "v", mode="max").round(3).to_dict() == importance.to_dict()


def test_a_trial_whose_reports_cannot_be_read_is_counted_not_silently_dropped(study, tmp_path, caplog):
    import shutil

    from mgen.analysis.results import load_study

    copy = tmp_path / "w"
    shutil.copytree(study, copy, ignore=shutil.ignore_patterns("wandb"))
    damaged = trial_dirs(copy)[0]
    (damaged / "progress.csv").write_text("")  # as a full disk leaves it
    loaded = load_study(str(copy))
    assert len(loaded.trials) == 1 and loaded.unread == [damaged.name]
    assert "1 trial folder(s) without readable reports" in caplog.text


def test_wandb_style_panels_draw_what_the_offline_runs_logged(study, tmp_path):
    import subprocess
    import sys

    trials = [run for run in study_runs(study) if run.job_type == "trial"]
    by_name = {run.name: run for run in trials}
    for trial in trial_dirs(study):  # the offline records hold each report's value at its training step
        progress = reports(trial)
        params = json.loads((trial / "params.json").read_text())
        (run,) = [r for name, r in by_name.items() if name.startswith(f"dg_ratio={params['dg_ratio']}")]
        logged = {row["step"]: row["quality/coverage"] for row in run.history if "quality/coverage" in row}
        assert logged == pytest.approx(dict(zip(progress["step"], progress["coverage"])))
    out = subprocess.run([sys.executable, "analysis/wandb_panels.py", str(study), "--out", str(tmp_path),
                          "--keys", "quality/coverage,train/loss_d"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and (tmp_path / "wandb_panels.png").stat().st_size > 10_000, out.stderr
    bad = subprocess.run([sys.executable, "analysis/wandb_panels.py", str(study), "--keys", "quality/covrage"],
                         cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "quality/covrage" in bad.stderr
