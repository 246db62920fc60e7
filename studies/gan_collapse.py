"""The collapse map: where does a MidiNet-style GAN collapse, over D/G ratio, learning rates, D's normalisation and conditioning?

    python studies/gan_collapse.py --budget smoke              # minutes on 2 CPU cores, local Ray
    python studies/gan_collapse.py --search optuna --objectives healthy_coverage:max,music_overlap:max
    RAY_AUTH_MODE=token ray job submit --address http://127.0.0.1:8265 --working-dir . -- \\
        python studies/gan_collapse.py --budget full --gpus-per-trial 0.25 --storage /shared/results

The space is centred on the reference recipe (mgen.train.config.REFERENCE_RECIPE: a pitch-or-rest
categorical a step, spectral normalisation in D (each layer's norm rising from 1 to 1.75 over 1,000
iterations), feature matching, lr_g = 2 lr_d, D's interval features on a head of their own), which also
runs once per seed as the positive control.
"""
import sys

from mgen.study import CONDITIONINGS, DG_RATIOS, MUSIC_BUDGET_OVERRIDES, Budget, Choice, LogUniform, StudySpec
from mgen.studies import main
from mgen.train.config import REFERENCE_RECIPE

SPACE = {
    "dg_ratio": Choice(DG_RATIOS),  # D steps : G steps per iteration, both directions
    "lr_d": LogUniform(1e-4, 2.5e-3),  # grid: 1e-4, 5e-4 (the recipe), 2.5e-3
    "lr_g": LogUniform(2e-4, 5e-3),  # grid: 2e-4, 1e-3 (the recipe), 5e-3
    "d_norm": Choice(("spectral", "none")),  # without spectral normalisation D wins or G collapses
    "d_intervals": Choice((12, 0)),  # D's interval features, matched by G (the recipe), or none
    "conditioning": Choice(CONDITIONINGS),  # none, or {prev, chord, prev+chord} x {1d, 2d}
    "seed": Choice((0, 1, 2)),
}
# d_norm "spectral" is the recipe's (spectral norm 1.75, reached over 1,000 iterations); "none" drops both.
FIXED = {k: REFERENCE_RECIPE[k] for k in ("method", "loss", "g_output", "fm_weight", "d_extra_route", "d_norm",
                                          "d_norm_scale", "d_norm_warmup")}
CONTROL = {"dg_ratio": "1:1", "lr_d": REFERENCE_RECIPE["lr_d"], "lr_g": REFERENCE_RECIPE["lr_g"],
           "d_norm": REFERENCE_RECIPE["d_norm"], "d_intervals": REFERENCE_RECIPE["d_intervals"], "conditioning": "none"}

BUDGETS = {
    # Minutes on 2 CPU cores: a grid of D/G ratio x D normalisation at the recipe's learning rates.
    "smoke": Budget(MUSIC_BUDGET_OVERRIDES["smoke"], num_samples=1, search="grid",
                    space={"dg_ratio": Choice(("5:1", "1:1", "1:5")), "lr_d": CONTROL["lr_d"],
                           "lr_g": CONTROL["lr_g"], "d_intervals": CONTROL["d_intervals"], "conditioning": "none",
                           "seed": 0}),
    # The conditioning axis: every conditioning x injection at D/G 1:1 and 1:5, the recipe's learning rates,
    # 2 seeds, 2,000 iterations (1D chord conditioning is still rising at 1,000). Adherence beside collapse.
    "conditioning": Budget({**MUSIC_BUDGET_OVERRIDES["smoke"], "steps": 2000, "eval_every": 500}, num_samples=1,
                           search="grid", space={"dg_ratio": Choice(("1:1", "1:5")), "lr_d": CONTROL["lr_d"],
                                                 "lr_g": CONTROL["lr_g"], "d_norm": CONTROL["d_norm"],
                                                 "d_intervals": CONTROL["d_intervals"],
                                                 "conditioning": Choice(CONDITIONINGS), "seed": Choice((0, 1))}),
    # The atlas (sized for about 2 hours on 2 CPU cores): random search over the 5 ratios x lr_d x lr_g x D's
    # normalisation x three conditionings (none, the chord in 1D, both conditions in 2D), seeds 0-2, at
    # smoke sizes and 1,000 iterations (the recipe's coverage there is about two thirds of its
    # 4,000-iteration value, docs/findings/2026-12-03-baselines.md), plus the controls and VAE/IMLE rows
    # once per seed. 120 trials: a GAN trial of this space took 112 s of training CPU on average at 1,200
    # iterations here, plus about 20 s of evaluation, checkpoints and logging (docs/findings/2026-12-03-atlas.md).
    # Trials train alone: populations of this space's trials (about 5 a cell) were 1.05x as fast side by side.
    "atlas": Budget({**MUSIC_BUDGET_OVERRIDES["smoke"], "steps": 1000, "eval_every": 250}, num_samples=120,
                    space={"d_intervals": CONTROL["d_intervals"],
                           "conditioning": Choice(("none", "chord/1d", "prev+chord/2d"))}),
    "small": Budget(MUSIC_BUDGET_OVERRIDES["small"], num_samples=40),
    "full": Budget(MUSIC_BUDGET_OVERRIDES["full"], num_samples=300),  # the whole space
}

SPEC = StudySpec(name="gan_collapse", description=__doc__.splitlines()[0], space=SPACE, budgets=BUDGETS,
                 fixed=FIXED, control=CONTROL, references=("vae", "imle"))

if __name__ == "__main__":
    sys.exit(main(SPEC))
