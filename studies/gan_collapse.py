"""The collapse map: where does a MidiNet-style GAN collapse, over D/G ratio, learning rates and conditioning?

    python studies/gan_collapse.py --budget smoke              # minutes on 2 CPU cores, local Ray
    python studies/gan_collapse.py --search optuna --objectives healthy_coverage:max,music_overlap:max
    RAY_AUTH_MODE=token ray job submit --address http://127.0.0.1:8265 --working-dir . -- \\
        python studies/gan_collapse.py --budget full --gpus-per-trial 0.25 --storage /shared/results
"""
import sys

from mgen.study import CONDITIONINGS, DG_RATIOS, MUSIC_BUDGET_OVERRIDES, Budget, Choice, LogUniform, StudySpec, main

SPACE = {
    "dg_ratio": Choice(DG_RATIOS),  # D steps : G steps per iteration, both directions
    "lr_d": LogUniform(1e-5, 1e-3),
    "lr_g": LogUniform(1e-5, 1e-3),
    "conditioning": Choice(CONDITIONINGS),  # none, or {prev, chord, prev+chord} x {1d, 2d}
    "seed": Choice((0, 1, 2)),
}

BUDGETS = {
    # Minutes on 2 CPU cores: two conditionings, one seed, learning rates in the upper decade.
    "smoke": Budget(MUSIC_BUDGET_OVERRIDES["smoke"], num_samples=6,
                    space={"conditioning": Choice(("none", "prev+chord/1d")), "seed": Choice((0,)),
                           "lr_d": LogUniform(1e-4, 1e-3, grid_points=1), "lr_g": LogUniform(1e-4, 1e-3, grid_points=1)}),
    "small": Budget(MUSIC_BUDGET_OVERRIDES["small"], num_samples=40),
    "full": Budget(MUSIC_BUDGET_OVERRIDES["full"], num_samples=300),  # the whole space
}

SPEC = StudySpec(name="gan_collapse", description=__doc__.splitlines()[0], space=SPACE, budgets=BUDGETS,
                 fixed={"method": "gan", "loss": "nonsat"})

if __name__ == "__main__":
    sys.exit(main(SPEC))
