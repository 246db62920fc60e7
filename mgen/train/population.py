"""A population: P GAN trial configs of one architecture trained at once, as one batched model.

Members share the architecture, data and budget (`population_key`) and may differ in what a trial's
scalars set: seed, learning rates, Adam betas, the D/G schedule, the feature-matching weight and label
smoothing. Each member builds its networks from its own seed and draws its batches and noise from its
own generator, in the order its own trial would; so it computes what `mgen.train.train` computes for
its config (to float tolerance: tests/train/test_population.py), reports the same metrics at the same
steps, and its checkpoints are ordinary trial checkpoints (`mgen generate` loads one;
`train(cfg, ds, resume=checkpoint)` continues it alone).

Per iteration, D sub-step k updates the members with d_steps > k, and likewise for G: a 1:1 member
sits out the 5:1 member's extra D updates. A member that diverges, or that its caller stops (an early
stopper, ASHA), is left out from then on; the others go on.
"""
from __future__ import annotations

import time
from typing import Iterator, Sequence

import numpy as np
import torch

from mgen.data import BarDataset
from mgen.errors import UserError
from mgen.models.stacked import Stacked, per_member
from mgen.train.config import TrialConfig
from mgen.train.losses import LOSSES
from mgen.train.trial import (
    DIVERGED_METRICS,
    Report,
    TrialData,
    build_method,
    eval_conditions,
    eval_generator,
    resolve_device,
    score_samples,
)

# What members may differ in; every other field (and whether feature matching is on) is shared.
MEMBER_FIELDS = ("seed", "lr_d", "lr_g", "beta1_d", "beta2_d", "beta1_g", "beta2_g", "d_steps", "g_steps",
                 "fm_weight", "label_smoothing")
EVAL_CHUNK = 16  # members generated at once in an evaluation (bounds its memory)


def population_key(cfg: TrialConfig) -> tuple | None:
    """Configs with equal keys can train as one population; None: this config trains alone (VAE and IMLE,
    and WGAN-GP, whose gradient penalty differentiates through D inside the step)."""
    if cfg.method != "gan" or cfg.loss == "wgan-gp":
        return None
    shared = {k: v for k, v in cfg.to_dict().items() if k not in MEMBER_FIELDS}
    return tuple(sorted(shared.items())) + (("feature_matching", cfg.fm_weight > 0),)


class StackedAdam:
    """Adam (Kingma & Ba 2015) on stacked parameters, each member with its own learning rate, betas and
    step count, in the arithmetic of torch.optim.Adam's single-tensor path; a step may update only some
    members."""

    EPS = 1e-8

    def __init__(self, stack: Stacked, lr: Sequence[float], betas: Sequence[tuple[float, float]]):
        self.stack = stack
        self.lr = torch.tensor(lr, dtype=torch.float64)
        self.beta1 = torch.tensor([b[0] for b in betas], dtype=torch.float64)
        self.beta2 = torch.tensor([b[1] for b in betas], dtype=torch.float64)
        self.steps = torch.zeros(stack.size, dtype=torch.float64)
        self.exp_avg = {k: torch.zeros_like(p, memory_format=torch.preserve_format) for k, p in stack.params.items()}
        self.exp_avg_sq = {k: torch.zeros_like(p, memory_format=torch.preserve_format) for k, p in stack.params.items()}

    @torch.no_grad()
    def step(self, members: torch.Tensor | None = None) -> None:
        """One Adam step of every member, or of `members` only (the others' parameters and state stay)."""
        rows = torch.arange(self.stack.size) if members is None else members.cpu()
        self.steps[rows] += 1
        step = self.steps[rows]
        lr, beta1, beta2 = self.lr[rows], self.beta1[rows], self.beta2[rows]
        step_size = lr / (1 - beta1 ** step)  # float64, as torch's Python-float scalars
        bias2_sqrt = (1 - beta2 ** step).sqrt()
        for name, p in self.stack.params.items():
            if p.grad is None:
                continue
            idx = rows.to(p.device)
            as_member = lambda t: t.to(device=p.device, dtype=p.dtype).view(-1, *[1] * (p.dim() - 1))  # noqa: E731
            grad = p.grad if members is None else p.grad[idx]
            m, v = self.exp_avg[name], self.exp_avg_sq[name]
            if members is not None:
                m, v = m[idx], v[idx]
            m = m.lerp_(grad, as_member(1 - beta1))
            v = v.mul_(as_member(beta2)).add_(as_member(1 - beta2) * grad * grad)
            denom = (v.sqrt() / as_member(bias2_sqrt)).add_(self.EPS)
            update = as_member(step_size) * (m / denom)
            if members is None:
                p.sub_(update)
            else:
                self.exp_avg[name].index_copy_(0, idx, m)
                self.exp_avg_sq[name].index_copy_(0, idx, v)
                p.index_copy_(0, idx, p[idx] - update)

    def member_state_dict(self, i: int) -> dict:
        """Member i's optimiser state as torch.optim.Adam.state_dict() holds it."""
        params = list(self.stack.template.parameters())
        opt = torch.optim.Adam(params, lr=float(self.lr[i]), betas=(float(self.beta1[i]), float(self.beta2[i])))
        state = opt.state_dict()
        state["state"] = {j: {"step": torch.tensor(float(self.steps[i])), "exp_avg": self.exp_avg[k][i].clone(),
                              "exp_avg_sq": self.exp_avg_sq[k][i].clone()}
                          for j, k in enumerate(self.stack.params)}
        return state


class PopulationGAN:
    """The members' G and D as stacks, their optimisers, generators and update counts."""

    def __init__(self, cfgs: Sequence[TrialConfig], data: TrialData):
        self.cfgs, self.data, self.size = list(cfgs), data, len(cfgs)
        gens, discs, self.torch_rng = [], [], []
        for cfg in self.cfgs:  # each member's networks exactly as its own trial builds them
            torch.manual_seed(cfg.seed)
            method = build_method(cfg, data)
            gens.append(method.nets["G"])
            discs.append(method.nets["D"])
            self.torch_rng.append(torch.get_rng_state())
        self.z_dim = gens[0].z_dim
        self.G, self.D = Stacked(gens), Stacked(discs)
        self.opt_d = StackedAdam(self.D, [c.lr_d for c in cfgs], [(c.beta1_d, c.beta2_d) for c in cfgs])
        self.opt_g = StackedAdam(self.G, [c.lr_g for c in cfgs], [(c.beta1_g, c.beta2_g) for c in cfgs])
        self.rng = [torch.Generator().manual_seed(c.seed) for c in cfgs]
        self.d_steps = torch.tensor([c.d_steps for c in cfgs])
        self.g_steps = torch.tensor([c.g_steps for c in cfgs])
        device = data.device
        self.smooth = torch.tensor([c.label_smoothing for c in cfgs], dtype=torch.float64).float().to(device)
        self.fm_weight = torch.tensor([c.fm_weight for c in cfgs], dtype=torch.float64).float().to(device)
        self.feature_matching = cfgs[0].fm_weight > 0
        self.d_loss, self.g_loss = LOSSES[cfgs[0].loss]

    def _inputs(self, members: torch.Tensor):
        """Each member's batch and noise from its own generator, in its trial's order (batch, then noise)."""
        data, batch = self.data, self.cfgs[0].batch_size
        idx, z = [], []
        for i in members.tolist():
            idx.append(torch.randint(len(data), (batch,), generator=self.rng[i]))
            z.append(torch.randn(batch, self.z_dim, generator=self.rng[i]))
        idx = torch.stack(idx)  # (M, batch)
        return data.x[idx.to(data.device)], *data.conditions(idx), torch.stack(z).to(data.device)

    def _d_loss(self, D, real, fake, prev, chord, smooth):
        return self.d_loss(D(real, prev, chord), D(fake, prev, chord), smooth)

    def _g_loss(self, G, D, z, real, prev, chord, fm_weight):
        fake = G(z, prev, chord)
        fake_out, fake_features = D(fake, prev, chord, return_features=True)
        loss = self.g_loss(fake_out)
        if self.feature_matching:  # as GAN.iteration: D sees the fake batch, then the real one
            with torch.no_grad():
                _, real_features = D(real, prev, chord, return_features=True)
            loss = loss + fm_weight * ((real_features.mean(0) - fake_features.mean(0)) ** 2).sum()
        return loss

    def iteration(self, live: torch.Tensor) -> dict[str, torch.Tensor]:
        """One iteration of every live member; returns each member's losses (P,) (NaN where not live)."""
        losses = {"loss_d": torch.zeros(self.size), "loss_g": torch.zeros(self.size)}
        for name, counts, net in (("loss_d", self.d_steps, "D"), ("loss_g", self.g_steps, "G")):
            for k in range(int(counts[live].max())):
                members = torch.nonzero(live & (counts > k)).flatten()
                subset = None if len(members) == self.size else members
                real, prev, chord, z = self._inputs(members)
                if net == "D":
                    with torch.no_grad():
                        fake = per_member([self.G], lambda G, z, p, c: G(z, p, c), z, prev, chord, members=subset)
                    self.D.zero_grad()
                    loss = per_member([self.D], self._d_loss, real, fake, prev, chord, self.smooth[members],
                                      members=subset)
                    loss.sum().backward()
                    self.opt_d.step(subset)
                else:
                    self.G.zero_grad()
                    loss = per_member([self.G, self.D], self._g_loss, z, real, prev, chord, self.fm_weight[members],
                                      members=subset)
                    loss.sum().backward()
                    self.opt_g.step(subset)
                losses[name][members] += loss.detach().cpu()
        for name, counts in (("loss_d", self.d_steps), ("loss_g", self.g_steps)):
            losses[name] = torch.where(live, losses[name] / counts, torch.nan)
        return losses

    @torch.no_grad()
    def generate(self, members: list[int], noise: list[torch.Tensor], cond_idx: torch.Tensor) -> np.ndarray:
        """(M, n, ...) samples of `members` from their noise, under the same held-out conditions (G in eval mode)."""
        prev, chord = self.data.conditions(cond_idx, heldout=True)
        self.G.train(False)
        try:
            out = per_member([self.G], lambda G, z, p, c: G(z, p, c), torch.stack(noise).to(self.data.device),
                             prev, chord, members=torch.tensor(members), shared=(False, True, True))
        finally:
            self.G.train(True)
        return out.float().cpu().numpy()

    def counters(self, i: int) -> dict[str, float]:
        return {"d_updates": float(self.opt_d.steps[i]), "g_updates": float(self.opt_g.steps[i])}

    def params_finite(self, i: int) -> bool:
        return all(torch.isfinite(p[i]).all() for s in (self.G, self.D) for p in s.params.values())

    def checkpoint(self, i: int, step: int, metrics: dict) -> dict:
        """Member i's checkpoint, in the format of mgen.train.trial.checkpoint_state."""
        return {
            "config": self.cfgs[i].to_dict(),
            "step": step,
            "metrics": {k: float(v) for k, v in metrics.items()},
            "models": {"G": self.G.member_state_dict(i), "D": self.D.member_state_dict(i)},
            "optimizers": {"d": self.opt_d.member_state_dict(i), "g": self.opt_g.member_state_dict(i)},
            "extra": {"counts": {k: int(v) for k, v in self.counters(i).items()}},
            "rng": self.rng[i].get_state(),
            "torch_rng": self.torch_rng[i],
        }


class Population:
    """Train `cfgs` as one population: `run()` yields, at each report step, one Report or None per member;
    `stop(i)` leaves member i out from then on."""

    def __init__(self, cfgs: Sequence[TrialConfig], ds: BarDataset):
        cfgs = [c.validate() for c in cfgs]
        keys = {population_key(c) for c in cfgs}
        if None in keys or len(keys) != 1:
            raise UserError("a population's configs must be GANs (not WGAN-GP) that differ only in "
                            + ", ".join(MEMBER_FIELDS) + "; train the others alone")
        self.cfgs, self.ds = cfgs, ds
        self.live = torch.ones(len(cfgs), dtype=torch.bool)

    def stop(self, i: int) -> None:
        self.live[i] = False

    def run(self) -> Iterator[list[Report | None]]:
        cfg = self.cfgs[0]
        data = TrialData(self.ds, resolve_device(cfg.device))
        pop = PopulationGAN(self.cfgs, data)
        step, start = 0, time.perf_counter()
        last_step, last_time = step, start
        while step < cfg.steps and self.live.any():
            losses = pop.iteration(self.live.clone())
            step += 1
            finite = torch.isfinite(losses["loss_d"]) & torch.isfinite(losses["loss_g"])
            diverged = self.live & ~finite
            evaluate_now = step % cfg.eval_every == 0 or step == cfg.steps
            if not (diverged.any() or evaluate_now):
                continue
            if evaluate_now:
                for i in torch.nonzero(self.live & ~diverged).flatten().tolist():
                    diverged[i] = not pop.params_finite(i)
            now = time.perf_counter()
            common = {"step": float(step), "wall_seconds": now - start,
                      "steps_per_sec": (step - last_step) / max(now - last_time, 1e-9)}
            reports: list[Report | None] = [None] * len(self.cfgs)
            for i in torch.nonzero(diverged).flatten().tolist():
                metrics = {k: float(v[i]) for k, v in losses.items()} | common | {"diverged": 1.0} | pop.counters(i)
                reports[i] = Report(step, metrics | DIVERGED_METRICS, None, None, done=True)
                self.live[i] = False
            if evaluate_now:
                members = torch.nonzero(self.live).flatten().tolist()
                for i, (scores, samples) in zip(members, self._evaluate(pop, data, members, step)):
                    metrics = ({k: float(v[i]) for k, v in losses.items()} | common | {"diverged": 0.0}
                               | pop.counters(i) | scores)
                    reports[i] = Report(step, metrics, pop.checkpoint(i, step, metrics), samples, step >= cfg.steps)
            yield reports
            last_step, last_time = step, time.perf_counter()

    def _evaluate(self, pop: PopulationGAN, data: TrialData, members: list[int], step: int):
        """Each member's (metrics, pictured samples), as its own trial's evaluation computes them."""
        n = self.cfgs[0].eval_samples
        ref_idx, cond_idx, same_idx = eval_conditions(data, n)
        for first in range(0, len(members), EVAL_CHUNK):
            chunk = members[first:first + EVAL_CHUNK]
            rngs = [eval_generator(self.cfgs[i], step) for i in chunk]
            fake = pop.generate(chunk, [torch.randn(n, pop.z_dim, generator=g) for g in rngs], cond_idx)
            same = pop.generate(chunk, [torch.randn(len(same_idx), pop.z_dim, generator=g) for g in rngs], same_idx)
            for j in range(len(chunk)):
                yield score_samples(data, fake[j], same[j], ref_idx)


def train_population(cfgs: Sequence[TrialConfig], ds: BarDataset) -> Iterator[list[Report | None]]:
    """Population(cfgs, ds).run() for callers that never stop a member."""
    return Population(cfgs, ds).run()
