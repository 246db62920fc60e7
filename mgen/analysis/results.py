"""Reading a study's results folder (local path or any URI pyarrow opens, e.g. s3://) without Ray,
or, where W&B is online, the study's runs from the W&B API (`wandb:ENTITY/PROJECT/GROUP`).

A study folder holds one `trainable_*` folder per trial with `params.json` (the sampled config),
`progress.csv` (one row per evaluation) and `checkpoint_*/checkpoint.pt`, plus `study.json`.

Why not Ray's `ExperimentAnalysis` (ray/tune/analysis/experiment_analysis.py, Ray 2.60): it needs the
driver's `experiment_state-*.json` (absent when the driver died before its first snapshot, and it
unpickles that file with cloudpickle, which runs code from whoever wrote the folder), it reads
`result.json` without dropping the steps a retried trial reported twice, and it imports Ray. This
reader needs only the trial folders, keeps the last report of each step and parses no pickles.
"""
from __future__ import annotations

import dataclasses
import logging
import io
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mgen.errors import UserError, run_cli
from mgen.metrics.registry import direction
from mgen.train.config import FOOTING, TrialConfig

log = logging.getLogger(__name__)
PARAM_PREFIX = "param/"


def _filesystem(uri: str):
    """(pyarrow filesystem, path inside it) for a local path or a URI."""
    import pyarrow.fs as pafs

    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), str(Path(uri).expanduser().resolve())


def _read_text(fs, path: str) -> str:
    with fs.open_input_stream(path) as f:
        return f.read().decode()


@dataclass
class StudyResults:
    uri: str
    trials: pd.DataFrame  # one row a trial: trial_id, dir, param/<name> columns, last metrics, best
    history: pd.DataFrame  # one row a report: trial_id, step, metrics
    summary: dict  # study.json, if present
    unread: list[str] = dataclasses.field(default_factory=list)  # trial folders with no readable reports

    @property
    def params(self) -> list[str]:
        return [c[len(PARAM_PREFIX):] for c in self.trials.columns if c.startswith(PARAM_PREFIX)]

    def best_trial(self, metric: str, mode: str | None = None) -> pd.Series:
        """The trial with the best `best_<metric>`, in the metric's declared direction unless `mode` says;
        reference rows left out, as the study's summary leaves them out."""
        mode = mode or direction(metric)
        # The study's own trials: its reference rows (a baseline recipe beside a GAN map) are not its answer.
        refs = {x.get("trial_id") for x in self.summary.get("references", [])}
        own = self.trials[~self.trials["trial_id"].isin(refs)]
        ranked = own.dropna(subset=[f"best_{metric}"]) if f"best_{metric}" in own else own.iloc[:0]
        if ranked.empty:
            raise UserError(f"no trial in {self.uri} reported {metric!r}")
        return ranked.sort_values(f"best_{metric}", ascending=mode == "min", kind="stable").iloc[0]


def _derived(params: dict, stored: dict | None = None) -> dict:
    """Config fields the maps group by (method, D/G ratio, lr ratio, conditioning), from the trial's full
    TrialConfig as it stored it (config.yaml in its checkpoints), else from its params: defaults come
    from the dataclass, never from here."""
    cfg = TrialConfig.from_dict(stored) if stored else TrialConfig.from_params(params)
    out = {"method": cfg.method}
    out["dg_ratio"] = f"{cfg.d_steps}:{cfg.g_steps}" if cfg.method == "gan" else cfg.method
    out["log_dg"] = cfg.log2_dg_ratio
    out["lr_d"], out["lr_g"] = cfg.lr_d, cfg.lr_g
    out["log10_lr_ratio"] = cfg.log10_lr_ratio
    out["conditioning"] = cfg.cond if cfg.cond == "none" else f"{cfg.cond}/{cfg.inject}"
    out["d_norm"], out["seed"] = cfg.d_norm, cfg.seed
    # What methods compared with each other must share (mgen.train.config.FOOTING), seed and conditioning
    # aside: conditioning is a dimension studies compare; analysis/baselines.py checks the rest.
    out["footing"] = "|".join(f"{k}={getattr(cfg, k)}" for k in FOOTING if k not in ("seed", "cond", "inject"))
    return out


def _trial_row(trial_id: str, location: str, params: dict, progress: pd.DataFrame,
               metrics_for_best: tuple[str, ...], stored: dict | None = None) -> dict:
    row = {"trial_id": trial_id, "dir": location, **{PARAM_PREFIX + k: v for k, v in params.items()},
           **_derived(params, stored)}
    row.update({k: v for k, v in progress.iloc[-1].to_dict().items() if k not in row})
    for metric in metrics_for_best:
        if metric in progress:
            row[f"best_{metric}"] = progress[metric].max() if direction(metric) == "max" else progress[metric].min()
    row["reports"] = len(progress)
    return row


def load_wandb_study(spec: str, metrics_for_best: tuple[str, ...] = ()) -> StudyResults:
    """`wandb:ENTITY/PROJECT/GROUP`: the study's runs from the W&B API (online W&B only).

    Checkpoints are not in W&B: best_samples and report need the results folder itself.
    """
    import wandb

    from mgen.metrics.registry import GROUPS

    try:
        entity, project, group = spec[len("wandb:"):].split("/", 2)
    except ValueError:
        raise UserError(f"{spec!r}: write wandb:ENTITY/PROJECT/GROUP (GROUP is the study name)") from None
    runs = wandb.Api().runs(f"{entity}/{project}", filters={"group": group})
    rows, reports = [], []
    for run in runs:
        history = run.history(pandas=True)
        if history.empty:
            continue
        # The study logs metrics grouped by prefix (mgen/study/wandb_log.py): quality/coverage -> coverage.
        history = history.rename(columns=lambda c: c.split("/", 1)[1] if c.split("/", 1)[0] in GROUPS else c)
        history["trial_id"] = run.id
        reports.append(history)
        # The run's config is the full trial config plus the study's words, numeric axes and real/ constants.
        known = {f.name for f in dataclasses.fields(TrialConfig)} | {"dg_ratio", "conditioning", "variant"}
        params = {k: v for k, v in dict(run.config).items() if k in known}
        rows.append(_trial_row(run.id, run.url, params, history, metrics_for_best))
    if not rows:
        raise UserError(f"no runs with history in W&B group {group!r} of {entity}/{project}")
    return StudyResults(spec, pd.DataFrame(rows), pd.concat(reports, ignore_index=True), {})


def load_study(uri: str, metrics_for_best: tuple[str, ...] = ()) -> StudyResults:
    """Every trial's params and reports; best_<metric> per trial for the metrics asked for (in each
    metric's direction, from mgen.metrics.registry).

    uri: a results folder, a URI pyarrow opens (s3://, gs://, file://), or wandb:ENTITY/PROJECT/GROUP.
    """
    if uri.startswith("wandb:"):
        return load_wandb_study(uri, metrics_for_best)
    fs, root = _filesystem(uri)
    import pyarrow.fs as pafs

    info = fs.get_file_info(root)
    if info.type != pafs.FileType.Directory:
        raise UserError(f"{uri} is not a results folder; give the folder a study printed as `results:`")
    trial_rows, reports, unread = [], [], []
    for entry in fs.get_file_info(pafs.FileSelector(root)):
        if entry.type != pafs.FileType.Directory or not entry.base_name.startswith("trainable_"):
            continue
        try:
            params = json.loads(_read_text(fs, f"{entry.path}/params.json"))
            progress = pd.read_csv(io.StringIO(_read_text(fs, f"{entry.path}/progress.csv")))
        except (FileNotFoundError, OSError, ValueError, pd.errors.EmptyDataError, pd.errors.ParserError):
            unread.append(entry.base_name)  # never reported, or its files are damaged (a full disk)
            continue
        trial_id = str(progress["trial_id"].iloc[0]) if "trial_id" in progress else entry.base_name
        progress = progress.drop(columns=[c for c in ("samples", "audio_renderer") if c in progress])
        if "step" in progress:  # a trial retried from a checkpoint reports the steps after it again
            progress = progress.drop_duplicates("step", keep="last").sort_values("step", kind="stable")
            progress = progress.reset_index(drop=True)
        progress["trial_id"] = trial_id
        reports.append(progress)
        location = f"{uri.split('://', 1)[0]}://{entry.path}" if "://" in uri else entry.path
        trial_rows.append(_trial_row(trial_id, location, params, progress, metrics_for_best,
                                     _stored_config(fs, entry.path, progress)))
    if not trial_rows:
        raise UserError(f"{uri} holds no trial results; run a study first (python studies/gan_collapse.py)")
    summary = {}
    try:
        summary = json.loads(_read_text(fs, f"{root}/study.json"))
    except (FileNotFoundError, OSError):
        pass
    trials = pd.DataFrame(trial_rows).sort_values("trial_id").reset_index(drop=True)
    if unread:
        log.warning("%s: %d trial folder(s) without readable reports, left out: %s", uri, len(unread),
                    ", ".join(unread[:5]) + (" ..." if len(unread) > 5 else ""))
    return StudyResults(uri, trials, pd.concat(reports, ignore_index=True), summary, unread)


def as_study(results, metrics_for_best: tuple[str, ...] = ()) -> StudyResults:
    """A loaded study as it is, else the study at that folder, URI or wandb: spec (read once by a caller that
    passes it on: the report reads each study once for all its sections)."""
    return results if isinstance(results, StudyResults) else load_study(results, metrics_for_best)


def _stored_config(fs, trial_path: str, progress: pd.DataFrame) -> dict | None:
    """The full TrialConfig a trial wrote into its checkpoints (config.yaml), or None (older results, or
    a trial that diverged before its first checkpoint)."""
    import yaml

    names = progress["checkpoint_dir_name"].dropna() if "checkpoint_dir_name" in progress else []
    if len(names) == 0:
        return None
    try:
        return yaml.safe_load(_read_text(fs, f"{trial_path}/{names.iloc[0]}/config.yaml"))
    except (FileNotFoundError, OSError, yaml.YAMLError):
        return None


def best_checkpoint(trial_dir: str, metric: str, mode: str | None = None) -> str:
    """Path (or URI) of the trial checkpoint saved at its best report by `metric`; latest if unknown."""
    mode = mode or direction(metric)
    fs, path = _filesystem(trial_dir)
    import pyarrow.fs as pafs

    progress = pd.read_csv(io.StringIO(_read_text(fs, f"{path}/progress.csv")))
    names = sorted(e.base_name for e in fs.get_file_info(pafs.FileSelector(path))
                   if e.type == pafs.FileType.Directory and e.base_name.startswith("checkpoint_"))
    if not names:
        raise UserError(f"{trial_dir} has no checkpoint")
    best = names[-1]
    if metric in progress and "checkpoint_dir_name" in progress:
        kept = progress[progress["checkpoint_dir_name"].isin(names)]
        if not kept.empty:
            best = kept.loc[kept[metric].idxmax() if mode == "max" else kept[metric].idxmin(), "checkpoint_dir_name"]
    return f"{trial_dir.rstrip('/')}/{best}"


def fetch_checkpoint(checkpoint_dir: str, local_dir: str | None = None) -> Path:
    """checkpoint.pt of a checkpoint folder, copied to a local folder when it lives behind a URI."""
    fs, path = _filesystem(checkpoint_dir)
    if "://" not in checkpoint_dir:
        return Path(path) / "checkpoint.pt"
    target = Path(local_dir or tempfile.mkdtemp(prefix="mgen-ckpt-")) / "checkpoint.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    with fs.open_input_stream(f"{path}/checkpoint.pt") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return target


def analysis_parser(doc: str, out: str, baselines: bool = True):
    """The flags the analysis scripts share: RESULTS, --metric, --out and (optionally) --baselines."""
    import argparse

    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("results", help="a study's results folder, a URI (s3://, file://) or wandb:ENTITY/PROJECT/STUDY")
    p.add_argument("--metric", default="healthy_coverage",
                   help="the metric to rank by; its direction comes from mgen.metrics.registry")
    p.add_argument("--out", default=out, help="output folder (report: the HTML file)")
    if baselines:
        p.add_argument("--baselines", help="a baselines study's results folder to compare with")
    return p


def analysis_main(prog: str, doc: str, run, argv=None) -> int:
    """main() of an analysis script whose run(results, out, metric, baselines) returns the files it wrote."""
    args = analysis_parser(doc, "out/analysis").parse_args(argv)

    def body():
        direction(args.metric)  # an unknown or directionless metric is one line, before any work
        for f in run(args.results, Path(args.out), args.metric, args.baselines):
            print(f"wrote {f}")

    return run_cli(prog, body)
