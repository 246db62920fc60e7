"""Baselines: the GAN recipe (and its best D/G ratio) against the VAE and IMLE recipes, on equal footing.

    python studies/baselines.py --budget smoke --only seed=0,1,2,3,4     # the four recipes, 1,000 iterations
    python studies/baselines.py --budget long --only seed=0,1,2,3,4      # the same at 4,000, a report every 250
    python studies/baselines.py --budget small                           # search each baseline's own settings
    python analysis/baselines.py RESULTS_DIR/STUDY --at-compute          # mean +- 95% CI, equal iterations and CPU

Every method trains its recipe (mgen.train.config.RECIPES) on the same data, held-out split, output,
sizes, batch, budget, evaluation and seeds (mgen.train.config.FOOTING). "gan/1:5" is the recipe at
D:G 1:5, the best ratio of the five-seed smoke map.
"""
import sys

from mgen.study import MUSIC_BUDGET_OVERRIDES, Budget, Choice, LogUniform, StudySpec
from mgen.studies import main

RECIPES = ("gan/reference", "gan/1:5", "vae/reference", "imle/reference")
SPACE = {
    "variant": Choice(("vae", "imle")),
    "lr_g": LogUniform(5e-4, 5e-3),  # the one learning rate of VAE and IMLE (both recipes: around 1e-3 to 2e-3)
    "kl_weight": LogUniform(0.3, 3.0),  # VAE only
    "imle_m": Choice((50, 100, 200)),  # IMLE only: samples per real bar (the recipe: 100)
    "conditioning": Choice(("none", "prev+chord/1d")),
    "seed": Choice((0, 1, 2)),
}
# The recipes alone: no searched settings (a dimension set to None is left to the recipe).
COMPARE = {"variant": Choice(RECIPES), "lr_g": None, "kl_weight": None, "imle_m": None, "conditioning": "none",
           "seed": Choice((0,))}

BUDGETS = {
    "smoke": Budget(MUSIC_BUDGET_OVERRIDES["smoke"], num_samples=1, search="grid", space=COMPARE),
    # Where the recipes' numbers have mostly stopped moving at the smoke sizes; reports every 250
    # iterations, so analysis/baselines.py can compare at equal CPU seconds too.
    "long": Budget({**MUSIC_BUDGET_OVERRIDES["smoke"], "steps": 4000, "eval_every": 250}, num_samples=1,
                   search="grid", space=COMPARE),
    "small": Budget(MUSIC_BUDGET_OVERRIDES["small"], num_samples=24),
    "full": Budget(MUSIC_BUDGET_OVERRIDES["full"], num_samples=120),
}

SPEC = StudySpec(name="baselines", description=__doc__.splitlines()[0], space=SPACE, budgets=BUDGETS,
                 table=(["variant"], ["healthy_coverage", "coverage", "precision", "diversity", "pitch_range",
                                      "music_overlap", "memorisation", "train_cpu_seconds"]))

if __name__ == "__main__":
    sys.exit(main(SPEC))
