"""A tiny study as its own process, for fault tests that kill drivers, workers and nodes:
`python -m tests.reliability.driver --steps N --eval-every K [study flags]`; exits with the study's code."""
from __future__ import annotations

import argparse
import sys

from mgen.study import Choice
from mgen.studies import main
from tests.study.conftest import tiny_spec


def spec(steps: int, eval_every: int, trials: int):
    ratios = ("1:1", "2:1", "1:2", "3:1")[:trials]
    return tiny_spec(space={"dg_ratio": Choice(ratios)}, steps=steps, eval_every=eval_every)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--trials", type=int, default=2)
    known, rest = p.parse_known_args()
    sys.exit(main(spec(known.steps, known.eval_every, known.trials), ["--search", "grid", "--num-samples", "1", *rest]))
