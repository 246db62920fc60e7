"""Baselines: a conditional VAE and IMLE on the same data, budget and metrics as the GAN study.

    python studies/baselines.py --budget smoke
"""
import sys

from mgen.study import MUSIC_BUDGET_OVERRIDES, Budget, Choice, LogUniform, StudySpec, main

SPACE = {
    "variant": Choice(("vae", "imle")),
    "lr_g": LogUniform(1e-4, 3e-3),  # the one learning rate of VAE and IMLE
    "kl_weight": LogUniform(0.1, 10.0),  # VAE only
    "imle_m": Choice((20, 50, 100)),  # IMLE only: samples per real bar (10 was too few on the 2D grid)
    "conditioning": Choice(("none", "prev+chord/1d")),
    "seed": Choice((0, 1, 2)),
}

BUDGETS = {
    "smoke": Budget(MUSIC_BUDGET_OVERRIDES["smoke"], num_samples=4, space={"seed": Choice((0,))}),
    "small": Budget(MUSIC_BUDGET_OVERRIDES["small"], num_samples=24),
    "full": Budget(MUSIC_BUDGET_OVERRIDES["full"], num_samples=120),
}

SPEC = StudySpec(name="baselines", description=__doc__.splitlines()[0], space=SPACE, budgets=BUDGETS,
                 table=(["variant"], ["healthy_coverage", "coverage", "diversity", "music_overlap", "collapsed", "failed"]))

if __name__ == "__main__":
    sys.exit(main(SPEC))
