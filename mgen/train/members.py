"""A population's members for each method: their networks as stacks, per-member optimisers and
generators, and one training iteration of every live member at once (mgen/train/population.py runs them).

Every member computes what its own trial computes: its networks are built from its own seed by the
method's own constructor, its batches and noise come from its own generator in its trial's order, and
its losses are the very functions its trial's method calls (gan.py, vae.py, imle.py), called for all
members under vmap.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np
import torch

from mgen.models.midinet import set_spectral_scale
from mgen.models.stacked import Stacked, per_member
from mgen.train.config import TrialConfig
from mgen.train.gan import discriminator_loss, generator_loss, spectral_scale
from mgen.train.imle import imle_loss, nearest_samples, pool_chunk
from mgen.train.trial import TrialData, build_method
from mgen.train.vae import vae_loss


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


def per_config(cfgs: Sequence[TrialConfig], name: str, device) -> torch.Tensor:
    """A trial-config field of every member, as a float tensor (one value a member)."""
    return torch.tensor([getattr(c, name) for c in cfgs], dtype=torch.float64).float().to(device)


class Members:
    """What every method's members have: networks built as each member's trial builds them (stacked), an
    Adam per optimiser of the method (stacked), a training generator and a global-RNG stand-in each."""

    def __init__(self, cfgs: Sequence[TrialConfig], data: TrialData):
        self.cfgs, self.data, self.size = list(cfgs), data, len(cfgs)
        modules, self.torch_rng = defaultdict(list), []
        for cfg in self.cfgs:
            torch.manual_seed(cfg.seed)
            method = build_method(cfg, data)
            for name, module in method.nets.items():
                modules[name].append(module)
            # Torch's global generator as the trial leaves it after building (the VAE's noise comes from it).
            self.torch_rng.append(torch.Generator().set_state(torch.get_rng_state()))
        self.z_dim = method.z_dim
        self.stacks = {name: Stacked(ms) for name, ms in modules.items()}
        # One StackedAdam per optimiser of the method, in its order, with the member's lr and betas.
        self.opts: dict[str, StackedAdam] = {}
        for name, (net, lr, beta1, beta2) in self.OPTIMISERS.items():
            self.opts[name] = StackedAdam(self.stacks[net], [getattr(c, lr) for c in cfgs],
                                          [(getattr(c, beta1), getattr(c, beta2)) for c in cfgs])
        self.rng = [torch.Generator().manual_seed(c.seed) for c in cfgs]

    OPTIMISERS: dict[str, tuple[str, str, str, str]] = {}  # optimiser -> (network, lr, beta1, beta2 fields)
    SAMPLER = "G"  # the network (and attribute) that samples

    def batch_indices(self, members: torch.Tensor) -> torch.Tensor:
        """(M, batch) example indices, each member's from its own generator."""
        batch = self.cfgs[0].batch_size
        return torch.stack([torch.randint(len(self.data), (batch,), generator=self.rng[i]) for i in members.tolist()])

    def noise(self, members: torch.Tensor, n: int, generators=None) -> torch.Tensor:
        """(M, n, z_dim) noise, each member's from its own generator."""
        gens = generators or self.rng
        return torch.stack([torch.randn(n, self.z_dim, generator=gens[i]) for i in members.tolist()]).to(self.data.device)

    def examples(self, idx: torch.Tensor):
        """Examples (M, batch, ...) and their conditions for indices (M, batch)."""
        return self.data.x[idx.to(self.data.device)], *self.data.conditions(idx)

    def iteration(self, live: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def step(self, name: str, loss: torch.Tensor, subset: torch.Tensor | None) -> None:
        """Backpropagate the members' summed losses and step optimiser `name` (of `subset`, or of all)."""
        for stack in self.stacks.values():
            stack.zero_grad()
        loss.sum().backward()
        self.opts[name].step(subset)

    @torch.no_grad()
    def generate(self, members: list[int], noise: torch.Tensor, cond_idx: torch.Tensor) -> np.ndarray:
        """(M, n, ...) samples of `members` from their noise (M, n, z_dim) under the same held-out
        conditions, with the networks in eval mode (as a trial's evaluation)."""
        prev, chord = self.data.conditions(cond_idx, heldout=True)
        stack = self.stacks[self.SAMPLER.split(".")[0]]
        stack.train(False)
        try:
            out = per_member([stack], self.sample, noise, prev, chord, members=torch.tensor(members),
                             shared=(False, True, True))
        finally:
            stack.train(self.TRAIN_MODE)
        return out.float().cpu().numpy()

    TRAIN_MODE = True  # the mode the sampler's stack trains in

    def sample(self, net, z, prev, chord):
        return net(z, prev, chord)

    def counters(self, i: int) -> dict[str, float]:
        return {f"{name}_updates": float(opt.steps[i]) for name, opt in self.opts.items()}

    def params_finite(self, i: int) -> bool:
        return all(torch.isfinite(p[i]).all() for s in self.stacks.values() for p in s.params.values())

    def extra_state(self, i: int) -> dict:
        return {"counts": {k: int(v) for k, v in self.counters(i).items()}}

    def checkpoint(self, i: int, step: int, metrics: dict) -> dict:
        """Member i's checkpoint, in the format of mgen.train.trial.checkpoint_state."""
        return {
            "config": self.cfgs[i].to_dict(),
            "step": step,
            "metrics": {k: float(v) for k, v in metrics.items()},
            "models": {name: stack.member_state_dict(i) for name, stack in self.stacks.items()},
            "optimizers": {name: opt.member_state_dict(i) for name, opt in self.opts.items()},
            "extra": self.extra_state(i),
            "rng": self.rng[i].get_state(),
            "torch_rng": self.torch_rng[i].get_state(),
        }


def _active(live: torch.Tensor, counts: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The live members with more than k updates of a kind per iteration, and that set as a subset (None: all)."""
    members = torch.nonzero(live & (counts > k)).flatten()
    return members, (None if len(members) == len(live) else members)


class GANMembers(Members):
    """Per iteration, D sub-step k updates the members with d_steps > k, then likewise for G."""

    OPTIMISERS = {"d": ("D", "lr_d", "beta1_d", "beta2_d"), "g": ("G", "lr_g", "beta1_g", "beta2_g")}

    def __init__(self, cfgs, data):
        super().__init__(cfgs, data)
        self.d_steps = torch.tensor([c.d_steps for c in cfgs])
        self.g_steps = torch.tensor([c.g_steps for c in cfgs])
        self.smooth = per_config(cfgs, "label_smoothing", data.device)
        self.fm_weight = per_config(cfgs, "fm_weight", data.device)
        self.fm_interval_weight = per_config(cfgs, "fm_interval_weight", data.device)
        self.loss = cfgs[0].loss
        self.iterations = 0  # a population starts from scratch; members resume alone (GAN.iteration)

    def iteration(self, live: torch.Tensor) -> dict[str, torch.Tensor]:
        G, D, loss_name = self.stacks["G"], self.stacks["D"], self.loss
        if self.cfgs[0].d_norm_warmup:  # shared by all members (population_key)
            set_spectral_scale(D.base, spectral_scale(self.cfgs[0], self.iterations))
        self.iterations += 1
        feature_matching = self.cfgs[0].fm_weight > 0
        losses = {"loss_d": torch.zeros(self.size), "loss_g": torch.zeros(self.size)}
        for k in range(int(self.d_steps[live].max())):
            members, subset = _active(live, self.d_steps, k)
            real, prev, chord = self.examples(self.batch_indices(members))
            z = self.noise(members, self.cfgs[0].batch_size)
            with torch.no_grad():
                fake = per_member([G], self.sample, z, prev, chord, members=subset)
            mismatch = self.cfgs[0].d_mismatch  # shared by all members (population_key)
            loss = per_member([D], lambda d, r, f, p, c, s: discriminator_loss(d, r, f, p, c, loss_name, s, mismatch),
                              real, fake, prev, chord, self.smooth[members], members=subset)
            self.step("d", loss, subset)
            losses["loss_d"][members] += loss.detach().cpu()
        for k in range(int(self.g_steps[live].max())):
            members, subset = _active(live, self.g_steps, k)
            real, prev, chord = self.examples(self.batch_indices(members))
            z = self.noise(members, self.cfgs[0].batch_size)
            loss = per_member([G, D], lambda g, d, z_, r, p, c, w, wi: generator_loss(
                                  g, d, z_, r, p, c, loss_name, w, feature_matching, wi),
                              z, real, prev, chord, self.fm_weight[members], self.fm_interval_weight[members],
                              members=subset)
            self.step("g", loss, subset)
            losses["loss_g"][members] += loss.detach().cpu()
        return {"loss_d": losses["loss_d"] / self.d_steps, "loss_g": losses["loss_g"] / self.g_steps}


class VAEMembers(Members):
    OPTIMISERS = {"vae": ("vae", "lr_g", "beta1_g", "beta2_g")}
    SAMPLER = "vae.decoder"

    def __init__(self, cfgs, data):
        super().__init__(cfgs, data)
        self.kl_weight = per_config(cfgs, "kl_weight", data.device)

    def sample(self, net, z, prev, chord):
        return net.decoder(z, prev, chord)

    def iteration(self, live: torch.Tensor) -> dict[str, torch.Tensor]:
        members, subset = _active(live, torch.ones(self.size), 0)
        x, prev, chord = self.examples(self.batch_indices(members))
        # The reparameterisation's noise, from each member's stand-in for its trial's global generator.
        eps = self.noise(members, self.cfgs[0].batch_size, self.torch_rng)
        points = self.data.is_points
        loss, rec, kl = per_member([self.stacks["vae"]], lambda v, x_, p, c, w, e: vae_loss(v, x_, p, c, points, w, e),
                                   x, prev, chord, self.kl_weight[members], eps, members=subset)
        self.step("vae", loss, subset)
        out = {name: torch.zeros(self.size) for name in ("loss", "loss_recon", "loss_kl")}
        for name, value in zip(out, (loss, rec, kl)):
            out[name][members] = value.detach().cpu()
        return out


class IMLEMembers(Members):
    """IMLE (mgen/train/imle.py): G stays in eval mode; every imle_inner_steps iterations each member
    draws a new pool and picks, for each of its examples, the nearest of imle_m samples."""

    OPTIMISERS = {"g": ("G", "lr_g", "beta1_g", "beta2_g")}
    TRAIN_MODE = False

    def __init__(self, cfgs, data):
        super().__init__(cfgs, data)
        self.stacks["G"].train(False)
        self.pool_idx = torch.zeros(self.size, 0, dtype=torch.long)
        self.pool_z = torch.zeros(self.size, 0, self.z_dim)
        self.inner = 0

    @torch.no_grad()
    def _new_round(self, members: torch.Tensor, subset) -> None:
        cfg, data = self.cfgs[0], self.data
        pool_idx = torch.stack([torch.randint(len(data), (cfg.imle_pool,), generator=self.rng[i])
                                for i in members.tolist()])  # (M, pool)
        chosen = []
        for first in range(0, cfg.imle_pool, pool_chunk(cfg)):
            part = pool_idx[:, first:first + pool_chunk(cfg)]  # (M, n)
            n = part.shape[1]
            real = data.x[part.to(data.device)].flatten(2)  # (M, n, D)
            prev, chord = data.conditions(part.repeat_interleave(cfg.imle_m, dim=1))
            z = torch.stack([torch.randn(n * cfg.imle_m, self.z_dim, generator=self.rng[i]) for i in members.tolist()])
            nearest = per_member([self.stacks["G"]], lambda g, z_, r, p, c: nearest_samples(g, z_, r, p, c, cfg.imle_m),
                                 z.to(data.device), real, prev, chord, members=subset).cpu()  # (M, n)
            chosen.append(torch.stack([z[j].view(n, cfg.imle_m, -1)[torch.arange(n), nearest[j]]
                                       for j in range(len(members))]))
        if self.pool_idx.shape[1] == 0:
            self.pool_idx = torch.zeros(self.size, cfg.imle_pool, dtype=torch.long)
            self.pool_z = torch.zeros(self.size, cfg.imle_pool, self.z_dim)
        self.pool_idx[members], self.pool_z[members] = pool_idx, torch.cat(chosen, dim=1)

    def iteration(self, live: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = self.cfgs[0]
        members, subset = _active(live, torch.ones(self.size), 0)
        if self.inner % cfg.imle_inner_steps == 0:
            self._new_round(members, subset)
        self.inner += 1
        batch = min(cfg.batch_size, self.pool_idx.shape[1])
        pick = torch.stack([torch.randint(self.pool_idx.shape[1], (batch,), generator=self.rng[i])
                            for i in members.tolist()])  # (M, batch)
        idx = torch.gather(self.pool_idx[members], 1, pick)
        x, prev, chord = self.examples(idx)
        z = torch.stack([self.pool_z[i][pick[j]] for j, i in enumerate(members.tolist())]).to(self.data.device)
        loss = per_member([self.stacks["G"]], imle_loss, z, x, prev, chord, members=subset)
        self.step("g", loss, subset)
        out = torch.zeros(self.size)
        out[members] = loss.detach().cpu()
        return {"loss": out}

    def extra_state(self, i: int) -> dict:
        return {**super().extra_state(i), "pool_idx": self.pool_idx[i].clone(), "pool_z": self.pool_z[i].clone(),
                "inner": self.inner}


MEMBERS = {"gan": GANMembers, "vae": VAEMembers, "imle": IMLEMembers}
