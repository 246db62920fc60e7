"""A population: P trial configs of one architecture trained at once, as one batched model.

Members share the method, architecture, data and budget (`population_key`) and may differ in what a
trial's scalars set (`MEMBER_FIELDS`: seed, learning rates, Adam betas; for GANs the D/G schedule, the
feature-matching weight and label smoothing; for VAEs the KL weight). Each member builds its networks
from its own seed and draws its batches and noise from its own generator, in the order its own trial
would (mgen/train/members.py); so it computes what `mgen.train.train` computes for its config (to float
tolerance: tests/train/test_population.py), reports the same metrics at the same steps, and its
checkpoints are ordinary trial checkpoints (`mgen generate` loads one; `train(cfg, ds,
resume=checkpoint)` continues it alone).

A member that diverges, or that its caller stops (an early stopper, ASHA), is left out from then on;
the others go on.
"""
from __future__ import annotations

import time
from typing import Iterator, Sequence

import torch

from mgen.data import BarDataset
from mgen.errors import UserError
from mgen.train.config import TrialConfig
from mgen.train.members import MEMBERS
from mgen.train.trial import (
    DIVERGED_METRICS,
    Report,
    TrialData,
    eval_conditions,
    eval_generator,
    resolve_device,
    score_samples,
)

_ADAM_G = ("seed", "lr_g", "beta1_g", "beta2_g")
# What members of a population may differ in, by method; every other field is shared.
MEMBER_FIELDS = {
    "gan": _ADAM_G + ("lr_d", "beta1_d", "beta2_d", "d_steps", "g_steps", "fm_weight", "label_smoothing",
                     "fm_interval_weight"),
    "vae": _ADAM_G + ("kl_weight",),
    "imle": _ADAM_G,
}
EVAL_CHUNK = 16  # members generated at once in an evaluation (bounds its memory)


def population_key(cfg: TrialConfig) -> tuple | None:
    """Configs with equal keys can train as one population; None: this config trains alone (WGAN-GP,
    whose gradient penalty differentiates through D inside the step)."""
    if cfg.method == "gan" and cfg.loss == "wgan-gp":
        return None
    shared = {k: v for k, v in cfg.to_dict().items() if k not in MEMBER_FIELDS[cfg.method]}
    # Feature matching on or off changes which networks a step calls; its weight may differ.
    return tuple(sorted(shared.items())) + (("feature_matching", cfg.fm_weight > 0),)


class Population:
    """Train `cfgs` as one population: `run()` yields, at each report step, one Report or None per member;
    `stop(i)` leaves member i out from then on."""

    def __init__(self, cfgs: Sequence[TrialConfig], ds: BarDataset):
        cfgs = [c.validate() for c in cfgs]
        keys = {population_key(c) for c in cfgs}
        if None in keys or len(keys) != 1:
            raise UserError("a population's configs must share everything but "
                            + ", ".join(MEMBER_FIELDS[cfgs[0].method]) + " (and not be WGAN-GP); train the others alone")
        self.cfgs, self.ds = cfgs, ds
        self.live = torch.ones(len(cfgs), dtype=torch.bool)

    def stop(self, i: int) -> None:
        self.live[i] = False

    def run(self) -> Iterator[list[Report | None]]:
        cfg = self.cfgs[0]
        data = TrialData(self.ds, resolve_device(cfg.device))
        pop = MEMBERS[cfg.method](self.cfgs, data)
        step, start = 0, time.perf_counter()
        last_step, last_time = step, start
        # Each member's share of the population's training CPU seconds (trial.py's train_cpu_seconds).
        cpu_spent, cpu_mark = torch.zeros(len(self.cfgs), dtype=torch.float64), time.process_time()
        while step < cfg.steps and self.live.any():
            losses = pop.iteration(self.live.clone())
            step += 1
            finite = torch.stack([torch.isfinite(v) for v in losses.values()]).all(0)
            diverged = self.live & ~finite
            evaluate_now = step % cfg.eval_every == 0 or step == cfg.steps
            if not (diverged.any() or evaluate_now):
                continue
            if evaluate_now:
                for i in torch.nonzero(self.live & ~diverged).flatten().tolist():
                    diverged[i] = not pop.params_finite(i)
            now = time.perf_counter()
            cpu_spent[self.live] += (time.process_time() - cpu_mark) / int(self.live.sum())
            common = {"step": float(step), "wall_seconds": now - start,
                      "steps_per_sec": (step - last_step) / max(now - last_time, 1e-9)}
            reports: list[Report | None] = [None] * len(self.cfgs)
            for i in torch.nonzero(diverged).flatten().tolist():
                metrics = ({k: float(v[i]) for k, v in losses.items()} | common
                           | {"train_cpu_seconds": float(cpu_spent[i]), "diverged": 1.0} | pop.counters(i))
                reports[i] = Report(step, metrics | DIVERGED_METRICS, None, None, done=True)
                self.live[i] = False
            if evaluate_now:
                members = torch.nonzero(self.live).flatten().tolist()
                for i, (scores, samples) in zip(members, self._evaluate(pop, data, members, step)):
                    metrics = ({k: float(v[i]) for k, v in losses.items()} | common
                               | {"train_cpu_seconds": float(cpu_spent[i]), "diverged": 0.0} | pop.counters(i) | scores)
                    reports[i] = Report(step, metrics, pop.checkpoint(i, step, metrics), samples, step >= cfg.steps)
            yield reports
            last_step, last_time, cpu_mark = step, time.perf_counter(), time.process_time()

    def _evaluate(self, pop, data: TrialData, members: list[int], step: int):
        """Each member's (metrics, pictured samples), as its own trial's evaluation computes them."""
        n = self.cfgs[0].eval_samples
        ref_idx, cond_idx, same_idx = eval_conditions(data, n)
        for first in range(0, len(members), EVAL_CHUNK):
            chunk = members[first:first + EVAL_CHUNK]
            rngs = [eval_generator(self.cfgs[i], step) for i in chunk]
            ids = torch.arange(len(chunk))
            fake = pop.generate(chunk, pop.noise(ids, n, rngs), cond_idx)
            same = pop.generate(chunk, pop.noise(ids, len(same_idx), rngs), same_idx)
            for j in range(len(chunk)):
                yield score_samples(data, fake[j], same[j], ref_idx, cond_idx)


def train_population(cfgs: Sequence[TrialConfig], ds: BarDataset) -> Iterator[list[Report | None]]:
    """Population(cfgs, ds).run() for callers that never stop a member."""
    return Population(cfgs, ds).run()
