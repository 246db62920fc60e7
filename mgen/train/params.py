"""Study words -> trial config fields, below the study layer (no Ray): a study's sampled point and a flat
TrialConfig dict differ only in three study-level parameters.

`dg_ratio` ("5:1" -> d_steps=5, g_steps=1), `conditioning` ("prev+chord/2d" -> cond="prev+chord",
inject="2d"; "none" has no injection, so a grid never runs "none" twice) and `variant` ("gan/1:5" ->
method gan at D:G 1:5; "vae", "imle"; settings of its own after the slash, "imle/lr_g=1e-3,imle_m=50";
"vae/reference": the method's recipe on the trial's footing alone), so VAE and IMLE are not repeated
over D/G ratios they do not have and each method can run at settings that suit it. A parameter given as
None (or NaN) is left to the recipe (a reference row's point names the searched dimensions, which it does
not use, so). A point that fixes the spectral normalisation's scale and warm-up (the reference recipe's)
and sets `d_norm` "none" gets no scale or warm-up: they qualify spectral normalisation only.
"""
from __future__ import annotations

import math
from typing import Any

from mgen.errors import UserError
from mgen.models import CONDITIONS, INJECTIONS
from mgen.train.config import FOOTING, load_yaml

REFERENCE = "reference"  # variant "vae/reference": that method's recipe on the trial's footing (a reference row)

DG_RATIOS = ("5:1", "2:1", "1:1", "1:2", "1:5")
CONDITIONINGS = ("none",) + tuple(f"{c}/{i}" for c in CONDITIONS[1:] for i in INJECTIONS)


def parse_ratio(ratio: str) -> tuple[int, int]:
    try:
        d, g = (int(x) for x in str(ratio).split(":"))
    except ValueError:
        raise UserError(f"dg_ratio {ratio!r} is invalid; write D:G steps, e.g. {', '.join(DG_RATIOS)}") from None
    return d, g


def unset(value) -> bool:
    """A parameter left to the recipe: None, or NaN (a reference row's unused float dimensions)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def expand(params: dict[str, Any]) -> dict[str, Any]:
    """A sampled dict (study-level params included) -> the flat TrialConfig dict."""
    out = {k: v for k, v in params.items() if not unset(v)}
    reference = False
    if "variant" in out:
        method, _, rest = str(out.pop("variant")).partition("/")
        out["method"] = method
        reference = rest == REFERENCE
        if "=" in rest:  # the variant's own settings
            for item in rest.split(","):
                key, _, value = item.partition("=")
                out[key.strip()] = load_yaml(value)
        elif rest and not reference:
            out["dg_ratio"] = rest
    if "dg_ratio" in out:
        out["d_steps"], out["g_steps"] = parse_ratio(out.pop("dg_ratio"))
    if "conditioning" in out:
        value = out.pop("conditioning")
        cond, _, inject = str(value).partition("/")
        if value != "none" and (cond not in CONDITIONS[1:] or inject not in INJECTIONS):
            raise UserError(f"conditioning {value!r} is invalid; valid: {', '.join(CONDITIONINGS)}")
        out["cond"], out["inject"] = cond, inject or "1d"
    if out.get("d_norm") == "none":
        out.pop("d_norm_scale", None)
        out.pop("d_norm_warmup", None)
    if reference:  # the method's recipe decides everything but the footing (TrialConfig.from_dict)
        return {**{k: v for k, v in out.items() if k in FOOTING + ("device",)}, "method": out["method"]}
    return out

