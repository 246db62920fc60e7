"""The trial config: one frozen, flat dataclass that fully determines a trial with its seed.

Its flat dict form is what Ray Tune samples, what W&B logs and what the results store.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mgen.data import DataConfig
from mgen.errors import UserError
from mgen.models import CONDITIONS, D_NORMS, EXTRA_ROUTES, INJECTIONS, METHODS, OUTPUTS


class _Loader(yaml.SafeLoader):
    """YAML 1.2 numbers: no base-60 (`dg_ratio: 1:5` stays "1:5", not 65), and 1e-4 is a float."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if not tag.endswith((":int", ":float"))]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9_]*|0x[0-9a-fA-F_]+|0b[01_]+)$"),
    list("-+0123456789"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9_]+|[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?"
               r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))


def load_yaml(text: str):
    """yaml.safe_load with YAML 1.2 numbers: what config files and --set values go through."""
    return yaml.load(text, Loader=_Loader)


def read_yaml_mapping(path: str, label: str = "config file", keys: str = "field") -> dict:
    """A YAML file of `keys: value`; a missing, broken or non-mapping file is a one-line UserError."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{label} {path} does not exist")
    try:
        values = load_yaml(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{label} {path} is not valid YAML: {exc}".splitlines()[0]) from None
    if not isinstance(values, dict):
        raise UserError(f"{label} {path} must hold a mapping of {keys}: value")
    return values


LOSSES = ("nonsat", "minimax", "hinge", "lsgan", "wgan-gp")

# The reference recipe for bar GANs: the configuration that, measured on 2 CPU cores, learns the planted
# motifs and bach. Each part is kept because training broke without it; the measurements are in
# docs/findings/2026-12-03-studies-so-far.md ("The reference recipe", "The pitch-range gap"):
# - g_output softmax: a pitch-or-rest categorical a step (independent sigmoid cells found 1 of 8 motifs);
# - d_norm spectral: without it D wins outright or G collapses;
# - fm_weight 1: feature matching (without it 0 of 8 motifs);
# - lr_g twice lr_d;
# - d_intervals 12 with d_extra_route "matching": D's interval features (-12..12 semitones) on a head of
#   their own, matched by G (higher bach coverage early, narrower bars);
# - d_norm_scale 1.75 reached over d_norm_warmup 1,000 iterations: bars narrow towards Bach's pitch range;
#   at 1.75 from the start G collapsed early on some seeds.
# Music studies run it as their positive control.
REFERENCE_RECIPE = {"method": "gan", "loss": "nonsat", "g_output": "softmax", "d_norm": "spectral",
                    "d_norm_scale": 1.75, "d_norm_warmup": 1000,
                    "fm_weight": 1.0, "lr_d": 5e-4, "lr_g": 1e-3, "d_steps": 1, "g_steps": 1,
                    "d_intervals": 12, "d_extra_route": "matching"}

# The baselines' recipes, chosen the same way on bach at the smoke sizes (width 32, z 32, batch 32,
# 2,000 iterations, seeds 0 and 1; docs/findings/2026-12-03-baseline-recipes.md has every variant tried).
# Both use the GAN's pitch-or-rest categorical output: with independent sigmoid cells the VAE collapsed.
VAE_RECIPE = {"method": "vae", "g_output": "softmax", "lr_g": 2e-3, "kl_weight": 1.0, "beta1_g": 0.5}
IMLE_RECIPE = {"method": "imle", "g_output": "softmax", "lr_g": 1e-3, "imle_m": 100}
RECIPES = {"gan": REFERENCE_RECIPE, "vae": VAE_RECIPE, "imle": IMLE_RECIPE}
# Conditional GANs: D also learns that a real bar under another bar's condition is not real (d_mismatch,
# GAN-CLS). Without it D barely reads the condition and a 2D-injected G ignores its chord; the share is
# the smallest measured to carry each injection's conditions at little cost in coverage (bach, smoke
# sizes, 2,000 iterations: docs/findings/2026-12-03-conditioning.md).
MISMATCH_RECIPE = {"1d": 0.2, "2d": 0.5}

# Equal footing: what every method of one comparison shares. A study's reference rows keep exactly these
# fields of its own trials (mgen.train.params.expand, variant "vae/reference"), and analysis/baselines.py
# refuses to compare trials that differ in any of them but the seed. The decoding into notes and the
# metrics are the same code for every method (mgen.metrics), and so is the held-out split (mgen.data).
FOOTING = ("data", "data_key", "data_augment", "data_max_files", "data_n_samples", "data_k_motifs", "data_seed",
           "data_std", "cond", "inject", "z_dim", "g_width", "d_width", "g_output", "batch_size", "steps",
           "eval_every", "eval_samples", "seed")
assert len({r["g_output"] for r in RECIPES.values()}) == 1, "the recipes must share one output parametrisation"

POINT_SETS = ("ring", "grid")  # 2D mixtures: no bar recipe; CALIBRATION_PROTOCOL says how they train


def recipe_defaults(values: dict[str, Any]) -> dict[str, Any]:
    """The fields of the method's recipe that `values` leaves unset: what a trial of that method trains on
    bars when nothing else is said (a default that does not learn is a bug). Recipe fields that qualify a
    setting the values turn off go too: d_norm other than spectral drops the norm's scale and warm-up,
    fm_weight 0 drops the matching head (it reaches G only through feature matching). A conditional GAN
    gets its injection's d_mismatch (MISMATCH_RECIPE)."""
    method, data = values.get("method", "gan"), str(values.get("data", "bach"))
    if data in POINT_SETS or method not in RECIPES:
        return {}
    recipe = dict(RECIPES[method])
    if values.get("d_norm", recipe.get("d_norm")) != "spectral":
        recipe.pop("d_norm_scale", None)
        recipe.pop("d_norm_warmup", None)
    if "fm_weight" in values and float(values["fm_weight"]) <= 0:
        recipe.pop("d_extra_route", None)
    if method == "gan" and values.get("cond", "none") != "none":
        recipe["d_mismatch"] = MISMATCH_RECIPE.get(values.get("inject", "1d"), 0.0)
    return {k: v for k, v in recipe.items() if k not in values}


# The 2D calibration protocol (PacGAN's: batch 100, Adam lr 1e-4 with beta1 0.8, D with linear maxout units
# of 5 pieces, 2,500 samples scored). IMLE with 100 candidates an example from a pool of 1,000: at 2,000
# steps, seeds 0-4, 23-25 of 25 grid modes and a high-quality share of 0.24-0.40, against 19-23 and
# 0.07-0.12 with 50, for 1.4x the time. studies/calibration.py and tests/train/test_baselines.py both use it.
CALIBRATION_PROTOCOL = {"batch_size": 100, "lr_d": 1e-4, "lr_g": 1e-4, "beta1_d": 0.8, "beta1_g": 0.8,
                        "d_maxout": 5, "eval_samples": 2500, "kl_weight": 1.0, "imle_m": 100, "imle_pool": 1000}


@dataclass(frozen=True)
class TrialConfig:
    # --- data (see mgen.data.DataConfig) ---
    data: str = "bach"  # bach | celtic | fiddle | essen | midi:PATH | motifs | ring | grid
    data_key: str = "C"  # C: pieces moved to C major / A minor; original: as written
    data_augment: int = 0  # transposition augmentation, +-semitones
    data_max_files: int = 0  # only the first N source files (0 = all)
    data_n_samples: int = 10000  # synthetic sets: examples
    data_k_motifs: int = 8  # motifs: planted motifs
    data_seed: int = 0  # synthetic sets: generation seed (fixed across trials: same data for all)
    data_std: float = 0.0  # ring/grid: sd of each Gaussian (0 = the protocol's: 0.01 ring, 0.025 grid)
    # --- model ---
    method: str = "gan"  # gan | vae | imle; on bars, fields left unset come from its recipe (RECIPES)
    cond: str = "none"  # none | prev | chord | prev+chord (bars only)
    inject: str = "1d"  # 1d: vectors at every layer; 2d: feature maps at matching time resolutions
    z_dim: int = 0  # noise/latent size (0 = family default: 100 bars, 2 points)
    g_width: int = 0  # G channels / hidden units (0 = default: 128 bars, 400 points)
    d_width: int = 0  # D (or VAE encoder) channels / hidden units (0 = default: 128 bars, 200 points)
    d_maxout: int = 0  # 2D sets: D's hidden units are linear maxout with this many pieces (PacGAN: 5); 0 = LeakyReLU
    g_output: str = "sigmoid"  # bars: sigmoid (independent cells) | softmax | onehot (a pitch-or-rest categorical a step)
    d_norm: str = "none"  # none | spectral (spectral normalisation on every D layer)
    d_norm_scale: float = 1.0  # spectral: each normalised layer's weight times this (spectral norm K, not 1)
    d_norm_warmup: int = 0  # spectral: iterations over which that norm rises linearly from 1 to d_norm_scale (0 = off)
    d_intervals: int = 0  # bars: D also sees the pitch interval between consecutive steps, -R..R semitones (0 = off)
    d_pair_kernel: int = 0  # bars: D's pair features, a (2 steps x K pitches) conv, max over pitch; K odd (0 = off)
    d_extra_route: str = "decision"  # D's interval/pair features: decision (in D's logit) | matching (own head; G matches them)
    # --- GAN schedule and optimisation ---
    loss: str = "nonsat"  # nonsat | minimax | hinge | lsgan | wgan-gp
    d_steps: int = 1  # D updates per iteration (5 with g_steps=1 is 5:1)
    g_steps: int = 1  # G updates per iteration (5 with d_steps=1 is 1:5, the collapse regime)
    lr_d: float = 2e-4  # D learning rate
    lr_g: float = 2e-4  # G learning rate (also the VAE's and IMLE's one learning rate)
    beta1_d: float = 0.5  # Adam betas of D
    beta2_d: float = 0.999
    beta1_g: float = 0.5  # Adam betas of G (VAE, IMLE)
    beta2_g: float = 0.999
    gp_weight: float = 10.0  # WGAN-GP gradient penalty weight (Gulrajani et al. 2017)
    fm_weight: float = 0.0  # feature matching weight added to G's loss (Salimans et al. 2016)
    fm_interval_weight: float = 1.0  # with d_intervals or d_pair_kernel: weight of those features in feature matching, relative
    label_smoothing: float = 0.0  # one-sided: D's real target is 1 - this
    d_mismatch: float = 0.0  # conditional GANs: share of D's fake term given to real bars under another bar's
    # conditions (the matching-aware discriminator of Reed et al. 2016, GAN-CLS), so D must check the condition
    # --- baselines ---
    kl_weight: float = 1.0  # VAE: weight of the KL term
    imle_m: int = 50  # IMLE: samples drawn per real example each round (10 found 6-9 of 25 grid modes)
    imle_pool: int = 512  # IMLE: real examples matched each round
    imle_inner_steps: int = 50  # IMLE: updates per round (rounds = steps / this)
    # --- budget ---
    batch_size: int = 64
    steps: int = 2000  # iterations: GAN = d_steps + g_steps updates each; VAE and IMLE = one update
    eval_every: int = 500  # report metrics and a checkpoint every this many iterations
    eval_samples: int = 1000  # generated examples per evaluation
    seed: int = 0  # model init, batches and noise
    device: str = "cpu"  # cpu | cuda | auto; not part of the trial's identity

    # Fields that may differ between a checkpoint and the config that resumes it.
    RESUMABLE_CHANGES = ("steps", "device")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "TrialConfig":
        """A study's point, study-level params included (dg_ratio, conditioning, variant: mgen/train/params.py)."""
        from mgen.train.params import expand

        return cls.from_dict(expand(params))

    @classmethod
    def from_dict(cls, values: dict[str, Any], recipe: bool = True) -> "TrialConfig":
        """Build from a flat dict (Ray Tune's sample, a YAML file, flags), coercing types, then validate.

        On bars, fields the dict leaves unset come from its method's recipe (RECIPES), then from the
        dataclass; `recipe=False` (or `TrialConfig(...)` itself) takes the dataclass defaults alone."""
        if recipe:
            values = {**recipe_defaults(values), **values}
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise UserError(f"unknown config field(s) {', '.join(unknown)}; valid fields: {', '.join(fields)}")
        kwargs = {}
        for name, value in values.items():
            kind = type(fields[name].default)
            try:
                if kind is int and isinstance(value, float) and not value.is_integer():
                    raise ValueError
                kwargs[name] = kind(value)
            except (TypeError, ValueError):
                raise UserError(f"config {name}={value!r} is not a valid {kind.__name__}") from None
        return cls(**kwargs).validate()

    def data_config(self) -> DataConfig:
        return DataConfig(name=self.data, key=self.data_key, augment=self.data_augment,
                          max_files=self.data_max_files, n_samples=self.data_n_samples,
                          k_motifs=self.data_k_motifs, seed=self.data_seed, std=self.data_std)

    def validate(self) -> "TrialConfig":
        self.data_config().validate()
        choices = {"method": METHODS, "cond": CONDITIONS, "inject": INJECTIONS, "loss": LOSSES,
                   "device": ("cpu", "cuda", "auto"), "g_output": OUTPUTS, "d_norm": D_NORMS,
                   "d_extra_route": EXTRA_ROUTES}
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise UserError(f"config {name}={getattr(self, name)!r} is invalid; valid: {', '.join(valid)}")
        ranges = [
            ("d_steps", 1, 100), ("g_steps", 1, 100), ("lr_d", 1e-7, 1e4), ("lr_g", 1e-7, 1e4),
            ("beta1_d", 0.0, 0.999), ("beta2_d", 0.0, 0.9999), ("beta1_g", 0.0, 0.999), ("beta2_g", 0.0, 0.9999),
            ("gp_weight", 0.0, 1e4), ("fm_weight", 0.0, 1e4), ("label_smoothing", 0.0, 0.5), ("d_mismatch", 0.0, 0.9),
            ("kl_weight", 0.0, 1e4), ("imle_m", 1, 1000), ("imle_pool", 1, 100000), ("imle_inner_steps", 1, 100000),
            ("batch_size", 2, 100000), ("steps", 1, 10**9), ("eval_every", 1, 10**9),
            ("eval_samples", 16, 100000), ("z_dim", 0, 4096), ("g_width", 0, 4096), ("d_width", 0, 4096),
            ("d_maxout", 0, 16), ("data_std", 0.0, 1.0), ("d_intervals", 0, 64), ("fm_interval_weight", 0.0, 1e4),
            ("d_pair_kernel", 0, 127), ("d_norm_scale", 0.01, 100.0), ("d_norm_warmup", 0, 10**9),
        ]
        for name, lo, hi in ranges:
            value = getattr(self, name)
            if not lo <= value <= hi:
                raise UserError(f"config {name}={value!r} is out of range; valid: {lo} to {hi}")
        if self.d_maxout == 1:
            raise UserError("config d_maxout=1 is a linear layer; give 0 (LeakyReLU) or 2 to 16 pieces")
        if self.d_maxout and self.data not in ("ring", "grid"):
            raise UserError(f"config d_maxout is for the 2D sets (ring, grid), not {self.data!r}; leave it 0")
        if self.data in ("ring", "grid") and self.g_output != "sigmoid":
            raise UserError(f"config g_output={self.g_output!r} is for bars; the 2D set {self.data!r} has a linear "
                            "output: give g_output=sigmoid (the default), e.g. --set g_output=sigmoid")
        if self.d_intervals and self.data in ("ring", "grid"):
            raise UserError(f"config d_intervals is for bars (intervals between steps), not the 2D set {self.data!r}; leave it 0")
        if self.d_pair_kernel and self.data in ("ring", "grid"):
            raise UserError(f"config d_pair_kernel is for bars (pairs of steps), not the 2D set {self.data!r}; leave it 0")
        if self.d_pair_kernel % 2 == 0 and self.d_pair_kernel:
            raise UserError(f"config d_pair_kernel={self.d_pair_kernel} must be odd (a window centred on each pitch), "
                            f"e.g. {self.d_pair_kernel + 1}")
        # (matching without interval or pair features routes nothing: allowed, so a space can switch them off)
        if self.d_extra_route == "matching" and (self.d_intervals or self.d_pair_kernel) and self.fm_weight <= 0:
            raise UserError("config d_extra_route='matching' acts on G only through feature matching; give fm_weight "
                            "> 0 (the recipe's: 1), or leave d_extra_route='decision'")
        if self.d_norm_scale != 1.0 and self.d_norm != "spectral":
            raise UserError(f"config d_norm_scale={self.d_norm_scale:g} scales spectrally normalised layers; give "
                            "d_norm='spectral' too, or leave d_norm_scale at 1")
        if self.d_norm_warmup and self.d_norm_scale == 1.0:
            raise UserError(f"config d_norm_warmup={self.d_norm_warmup} ramps D's spectral norm from 1 to d_norm_scale, "
                            "which is 1: give d_norm_scale too (e.g. 1.75), or leave d_norm_warmup at 0")
        if self.data_std and self.data not in ("ring", "grid"):
            raise UserError(f"config data_std is the sd of the 2D sets' Gaussians, not of {self.data!r}; leave it 0")
        if self.data in ("ring", "grid") and self.cond != "none":
            raise UserError(f"config cond={self.cond!r} needs bars; the 2D set {self.data!r} takes cond='none'")
        return self

    @property
    def log2_dg_ratio(self) -> float:
        """log2(D steps / G steps): 0 at 1:1, positive when D trains more; the collapse maps' axis."""
        return math.log2(self.d_steps / self.g_steps)

    @property
    def log10_lr_ratio(self) -> float:
        """log10(lr_d / lr_g)."""
        return math.log10(self.lr_d / self.lr_g)

    @property
    def name(self) -> str:
        """Short readable run name: method, data, schedule, conditioning and seed."""
        ratio = f"{self.d_steps}:{self.g_steps}" if self.method == "gan" else self.method
        cond = "" if self.cond == "none" else f"-{self.cond}-{self.inject}"
        return f"{self.method}-{self.data.split(':')[0]}-{ratio}{cond}-s{self.seed}".replace(":", "x")
