"""Every metric's range, direction and the space it is computed in, declared once.

Read by the study (which metric a study may optimise, and which way), Optuna, mgen/analysis/results.py, the
analysis scripts and the report. Directions: "max" and "min" (better is higher / lower), "target"
(better is closer to the real data's value, reported beside it as `<name>_real`) and "info"
(describes, neither better nor worse). Flags (`collapsed`, `failed`, `diverged`) are "min".
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from mgen.errors import UserError


@dataclass(frozen=True)
class Metric:
    name: str
    direction: str  # max | min | target | info
    low: float
    high: float  # math.inf where unbounded
    space: str  # what it is computed on
    what: str


_EMB = "bar embedding"
_ROLL = "decoded piano roll"
_FEAT = "per-bar music features"
_M = [
    Metric("healthy_coverage", "max", -1, 1, _EMB, "coverage, minus 1 when collapsed or failed: the music studies' default objective"),
    Metric("coverage", "max", 0, 1, _EMB, "share of real bars with a generated bar inside their k-NN ball (Naeem et al. 2020)"),
    Metric("precision", "max", 0, 1, _EMB, "share of generated bars inside some real bar's k-NN ball (Kynkaanniemi et al. 2019)"),
    Metric("recall", "max", 0, 1, _EMB, "share of real bars inside some generated bar's k-NN ball (Kynkaanniemi et al. 2019)"),
    Metric("density", "max", 0, math.inf, _EMB, "real balls per generated bar, over k; about 1 when matched (Naeem et al. 2020)"),
    Metric("frechet_distance", "min", 0, math.inf, _EMB, "Frechet distance between Gaussians fitted to real and generated embeddings"),
    Metric("roll_coverage", "max", 0, 1, _ROLL, "coverage on raw rolls, for comparison only (near-empty bars are hubs there)"),
    Metric("roll_precision", "max", 0, 1, _ROLL, "precision on raw rolls, for comparison only"),
    Metric("ndb", "min", 0, math.inf, _EMB, "bins (k-means on real) whose real and generated shares differ (Richardson & Weiss 2018)"),
    Metric("ndb_ratio", "min", 0, 1, _EMB, "ndb over the number of bins"),
    Metric("ndb_bins", "info", 0, math.inf, _EMB, "number of NDB bins"),
    Metric("jsd", "min", 0, math.log(2), _EMB, "Jensen-Shannon divergence of the bin histograms"),
    Metric("diversity", "max", 0, math.inf, _EMB, "effective number of bins occupied, generated over real; ~1 healthy, ~0 one bar"),
    Metric("occupied_bins", "target", 0, math.inf, _EMB, "NDB bins holding at least one generated bar"),
    Metric("duplicate_rate", "target", 0, 1, _ROLL, "share of generated bars with an exact copy in the sample"),
    Metric("near_duplicate_rate", "target", 0, 1, _ROLL, "share with a near copy (at most 2 cells differ)"),
    Metric("distinct", "info", 1, math.inf, _ROLL, "distinct generated bars"),
    Metric("distinct_ratio", "target", 0, 1, _ROLL, "distinct generated bars over N"),
    Metric("z_sensitivity", "max", 0, math.inf, _EMB, "spread of outputs under one condition over the real spread; ~0 is single-point collapse"),
    Metric("memorisation", "target", 0, 1, _ROLL, "share of generated bars copying a training bar (at most 2 cells differ); compare with _real"),
    Metric("collapsed", "min", 0, 1, _EMB, "diversity < 0.3 or z_sensitivity < 0.1 (mgen/metrics/collapse.py)"),
    Metric("failed", "min", 0, 1, _EMB, "half the bars empty, precision < 0.05, or diverged: the generator did not learn"),
    Metric("music_overlap", "max", 0, 1, _FEAT, "mean Yang & Lerch overlap area, inter-set and intra-generated, over features"),
    Metric("empty_bar_rate", "target", 0, 1, _ROLL, "share of empty generated bars"),
    Metric("pc_histogram_entropy", "target", 0, math.log2(12), _ROLL, "entropy of the set's pitch-class histogram"),
    Metric("modes_captured", "max", 0, math.inf, "modes", "known modes with at least one high-quality sample nearest to them (VEEGAN/PacGAN protocol)"),
    Metric("modes_captured_5", "max", 0, math.inf, "modes", "known modes with at least 5 high-quality samples (stricter)"),
    Metric("modes_total", "info", 0, math.inf, "modes", "known modes in the data"),
    Metric("high_quality", "max", 0, 1, "modes", "share of samples near a known mode"),
    Metric("diverged", "min", 0, 1, "training", "losses or weights went NaN/Inf"),
    Metric("loss_d", "info", -math.inf, math.inf, "training", "discriminator loss"),
    Metric("loss_g", "info", -math.inf, math.inf, "training", "generator loss"),
    Metric("loss", "info", -math.inf, math.inf, "training", "VAE/IMLE loss"),
]
for _f in ("used_pitch_classes", "notes_per_bar", "pitch_range", "mean_interval", "scale_consistency",
           "pc_entropy", "qualified_note_rate"):
    _M.append(Metric(_f, "target", 0, math.inf, _FEAT, f"mean per-bar {_f.replace('_', ' ')} (compare with {_f}_real)"))
    _M.append(Metric(f"oa_{_f}", "max", 0, 1, _FEAT, f"overlap area of {_f.replace('_', ' ')} distance distributions"))
    _M.append(Metric(f"kl_{_f}", "min", 0, math.inf, _FEAT, f"KL of {_f.replace('_', ' ')} inter-set distances from intra-real"))
_COND = "conditions"  # mgen/metrics/adherence.py: each with its _real value, and a gain over shuffled conditions
_M += [
    Metric("chord_adherence", "max", -math.inf, math.inf, _COND, "chord measures' gain over shuffled chords, generated over real; ~0 ignores the chord, ~1 follows it as the data do"),
    Metric("prev_adherence", "max", -math.inf, math.inf, _COND, "previous-bar measures' gain over shuffled previous bars, generated over real (~0 blind, ~1 as the data)"),
    Metric("ctnctr", "target", 0, 1, _COND, "chord tones plus step-resolved non-chord tones over all notes, under the bar's chord (Yeh et al. 2020)"),
    Metric("ctnctr_gain", "target", -1, 1, _COND, "ctnctr under the true chords minus under shuffled ones"),
    Metric("tonal_distance", "target", 0, math.inf, _COND, "distance of the bar's tonal centroid from its chord's (Harte et al. 2006)"),
    Metric("tonal_distance_gain", "target", -math.inf, math.inf, _COND, "tonal distance under shuffled chords minus under the true ones"),
    Metric("bar_line_step", "target", 0, 1, _COND, "share of bars whose first note is at most 2 semitones from the previous bar's last"),
    Metric("bar_line_step_gain", "target", -1, 1, _COND, "bar_line_step after the true previous bars minus after shuffled ones"),
    Metric("groove_similarity", "target", 0, 1, _COND, "1 - mean XOR of the bar's and the previous bar's onset patterns (Wu & Yang 2020)"),
    Metric("prev_copy_rate", "target", 0, 1, _COND, "share of bars copying their previous bar (at most 2 cells differ)"),
    Metric("groove_similarity_gain", "target", -1, 1, _COND, "groove similarity with the true previous bars minus with shuffled ones"),
]
METRICS: dict[str, Metric] = {m.name: m for m in _M}


def lookup(name: str) -> Metric:
    if name in METRICS:
        return METRICS[name]
    if name.endswith("_real") and name[:-5] in METRICS:
        return Metric(name, "info", METRICS[name[:-5]].low, METRICS[name[:-5]].high, METRICS[name[:-5]].space,
                      f"{name[:-5]} of the real reference")
    raise UserError(f"unknown metric {name!r}; valid: {', '.join(sorted(n for n, m in METRICS.items() if m.direction in ('max', 'min')))}")


def direction(name: str) -> str:
    """'max' or 'min' for a metric a study can optimise; a UserError naming the valid ones otherwise."""
    m = lookup(name)
    if m.direction not in ("max", "min"):
        valid = ", ".join(sorted(n for n, x in METRICS.items() if x.direction in ("max", "min")))
        raise UserError(f"metric {name!r} has no better direction ({m.direction}); optimise one of: {valid}")
    return m.direction


def check_mode(name: str, mode: str) -> None:
    """A UserError when `mode` disagrees with the metric's declared direction."""
    if direction(name) != mode:
        raise UserError(f"metric {name!r} is better when {'higher' if direction(name) == 'max' else 'lower'}; "
                        f"use --mode {direction(name)}")


def worst_value(name: str) -> float:
    """The value a trial that produced nothing (diverged) records: the bottom of the metric's direction."""
    m = lookup(name)
    return m.low if direction(name) == "max" else m.high


def better(name: str, a: float, b: float) -> bool:
    """Is a better than b for this metric? NaN is never better."""
    if a != a:
        return False
    if b != b:
        return True
    return a > b if direction(name) == "max" else a < b


def health_status(metrics: dict) -> str:
    """"failed" (did not learn to make music) > "collapsed" (few modes) > "healthy", from a report's flags."""
    return ("failed" if metrics.get("failed", 0) >= 1 else "collapsed" if metrics.get("collapsed", 0) >= 1
            else "healthy")


# The W&B name of each result: a group prefix (the dashboard's sections) and the key.
_TRAIN = {"loss_d", "loss_g", "loss", "loss_recon", "loss_kl", "steps_per_sec", "wall_seconds", "train_cpu_seconds", "diverged"}
_QUALITY = {"healthy_coverage", "coverage", "precision", "recall", "density", "frechet_distance", "roll_coverage",
            "roll_precision", "music_overlap"}


# Every run mgen writes to W&B (a trial's, the study's): no banners, no sparklines, no captured worker output.
WANDB_QUIET = {"silent": True, "console": "off"}

GROUPS = ("train", "quality", "collapse", "modes", "music", "conditioning")  # the prefixes below; the results reader maps them back


def wandb_name(key: str) -> str | None:
    """The W&B name of a result key (group/metric), or None for keys W&B should not get per report."""
    if key == "step":
        return key
    if key in _TRAIN or key.endswith("_updates"):
        return f"train/{key}"
    if key in _QUALITY:
        return f"quality/{key}"
    metric = METRICS.get(key)
    if metric is None:
        return None  # Ray's bookkeeping (time_*, pid, hostname, ...) and anything unknown
    if metric.space == "modes":
        return f"modes/{key}"
    if metric.space == "conditions":
        return f"conditioning/{key}"
    if metric.space == "per-bar music features" or key.startswith(("oa_", "kl_")) or key == "pc_histogram_entropy":
        return f"music/{key}"
    return f"collapse/{key}"


BETTER = {"max": "higher", "min": "lower", "target": "closer to `_real`", "info": "(describes)"}


def _bound(x: float) -> str:
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.3g}".replace("-", "−")


def markdown_table() -> str:
    """Every metric of the registry as a Markdown table: the reference table of docs/metrics.md, which a test
    keeps equal to this (regenerate it with `mgen metrics table`)."""
    lines = ["| name | range | better | W&B name | computed on | what |", "| --- | --- | --- | --- | --- | --- |"]
    for m in _M:
        lines.append(f"| `{m.name}` | {_bound(m.low)} to {_bound(m.high)} | {BETTER[m.direction]} | "
                     f"`{wandb_name(m.name)}` | {m.space} | {m.what.replace('|', '/')} |")
    return "\n".join(lines) + "\n"
