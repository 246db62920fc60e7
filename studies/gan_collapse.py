"""The collapse map: where does a MidiNet-style GAN collapse, over D/G ratio, learning rates and conditioning?

    python studies/gan_collapse.py --budget smoke              # minutes on 2 CPU cores, local Ray
    python studies/gan_collapse.py --search optuna --objectives coverage:max,music_overlap:max
    RAY_AUTH_MODE=token ray job submit --address http://127.0.0.1:8265 --working-dir . -- \\
        python studies/gan_collapse.py --budget full --gpus-per-trial 0.25 --storage /shared/results
"""
import sys

from mgen.study import CONDITIONINGS, DG_RATIOS, Budget, Choice, LogUniform, StudySpec, main

SPACE = {
    "dg_ratio": Choice(DG_RATIOS),  # D steps : G steps per iteration, both directions
    "lr_d": LogUniform(1e-5, 1e-3),
    "lr_g": LogUniform(1e-5, 1e-3),
    "conditioning": Choice(CONDITIONINGS),  # none, or {prev, chord, prev+chord} x {1d, 2d}
    "seed": Choice((0, 1, 2)),
}

BUDGETS = {
    # Minutes on 2 CPU cores: small nets, a few hundred updates, two conditionings, one seed.
    "smoke": Budget({"g_width": 32, "d_width": 32, "z_dim": 32, "batch_size": 32, "steps": 120,
                     "eval_every": 40, "eval_samples": 256}, num_samples=6,
                    space={"conditioning": Choice(("none", "prev+chord/1d")), "seed": Choice((0,)),
                           "lr_d": LogUniform(1e-4, 1e-3, grid_points=1), "lr_g": LogUniform(1e-4, 1e-3, grid_points=1)}),
    # An hour or so on a workstation.
    "small": Budget({"g_width": 64, "d_width": 64, "z_dim": 64, "steps": 2000, "eval_every": 250,
                     "eval_samples": 1000}, num_samples=40),
    # What a GPU cluster runs: default sizes, long training, the whole space.
    "full": Budget({"steps": 20000, "eval_every": 1000, "eval_samples": 5000}, num_samples=300),
}

SPEC = StudySpec(name="gan_collapse", description=__doc__.splitlines()[0], space=SPACE, budgets=BUDGETS,
                 fixed={"method": "gan", "loss": "nonsat"}, metric="coverage", mode="max")

if __name__ == "__main__":
    sys.exit(main(SPEC))
