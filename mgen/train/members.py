"""A population's members for each method: their networks as stacks, per-member optimisers and
generators, and one training iteration of every live member at once (mgen/train/population.py runs them).

Every member computes what its own trial computes: its networks are built from its own seed by the
method's own constructor, its batches and noise come from its own generator in its trial's order, and
its iteration is the very function its trial runs (gan.iteration, vae.iteration, imle.new_round and
imle.iteration), run here by `Batched` for all members at once under vmap (mgen/train/runner.py); its
checkpoint is built by the trial's own checkpoint_dict.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np
import torch

from mgen.models.stacked import Stacked, per_member
from mgen.train import gan, imle, vae
from mgen.train.config import TrialConfig
from mgen.train.trial import TrialData, build_method, checkpoint_dict


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


class Batched:
    """A population's side of a method's iteration (mgen/train/runner.py has the interface): every live
    member at once; `who` is (members taking this sub-step, the same as a subset for per_member, or None
    when it is every member)."""

    def __init__(self, members: Members, live: torch.Tensor):
        self.m, self.cfg, self.data, self.live = members, members.cfgs[0], members.data, live
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, torch.Tensor] = {}

    def rounds(self, field: str) -> int:
        return int(self.m.field(field)[self.live].max())

    def taking(self, field: str | None = None, k: int = 0):
        counts = torch.ones(self.m.size) if field is None else self.m.field(field)
        members = torch.nonzero(self.live & (counts > k)).flatten()
        return members, (None if len(members) == len(self.live) else members)

    def batch(self, who):
        return self.m.examples(self.m.batch_indices(who[0]))

    def noise(self, who, n: int | None = None) -> torch.Tensor:
        return self.m.noise(who[0], n or self.cfg.batch_size)

    def global_noise(self, who) -> torch.Tensor:
        """The reparameterisation noise, from each member's stand-in for its trial's global generator."""
        return self.m.noise(who[0], self.cfg.batch_size, self.m.torch_rng)

    def randint(self, who, high: int, size: tuple) -> torch.Tensor:
        return torch.stack([torch.randint(high, size, generator=self.m.rng[i]) for i in who[0].tolist()])

    def randn(self, who, n: int) -> torch.Tensor:
        return torch.stack([torch.randn(n, self.m.z_dim, generator=self.m.rng[i]) for i in who[0].tolist()])

    def call(self, nets: list[str], fn, *args, who=None):
        return per_member([self.m.stacks[name] for name in nets], fn, *args, members=who[1])

    def value(self, field: str, who) -> torch.Tensor:
        return self.m.field(field, float_on=self.data.device)[who[0]]

    def update(self, opt: str, loss: torch.Tensor, who, key: str) -> None:
        self.m.step(opt, loss, who[1])
        self.record(key, loss, who)

    def record(self, key: str, value: torch.Tensor, who) -> None:
        if key not in self.sums:
            self.sums[key], self.counts[key] = torch.zeros(self.m.size), torch.zeros(self.m.size)
        self.sums[key][who[0]] += value.detach().cpu()
        self.counts[key][who[0]] += 1

    def losses(self) -> dict[str, torch.Tensor]:
        """Each member's mean over the sub-steps it took (0 for a member that took none)."""
        return {k: self.sums[k] / self.counts[k].clamp(min=1) for k in self.sums}

    def net(self, name: str):
        return self.m.stacks[name].base  # shared by all members: what differs between them is not scaled

    def iterations_done(self) -> int:
        return self.m.iterations

    def get(self, name: str, who) -> torch.Tensor:
        return getattr(self.m, name)[who[0]]

    def put(self, name: str, value: torch.Tensor, who) -> None:
        stored = getattr(self.m, name)
        if stored.shape[1:] != value.shape[1:]:  # the first round: the pool's size is known now
            stored = torch.zeros(self.m.size, *value.shape[1:], dtype=value.dtype)
            setattr(self.m, name, stored)
        stored[who[0]] = value


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

    def field(self, name: str, float_on=None) -> torch.Tensor:
        """A trial-config field of every member, one value a member: as it is (counts), or as float32 on
        `float_on` (the values a loss multiplies by)."""
        values = [getattr(c, name) for c in self.cfgs]
        if float_on is None:
            return torch.tensor(values)
        return torch.tensor(values, dtype=torch.float64).float().to(float_on)

    def iteration(self, live: torch.Tensor) -> dict[str, torch.Tensor]:
        """One iteration of every live member: the method's own iteration, run by Batched."""
        run = Batched(self, live)
        self.run_iteration(run)
        return run.losses()

    def run_iteration(self, run: Batched) -> None:
        raise NotImplementedError
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
        """Member i's checkpoint: a trial's (mgen.train.trial.checkpoint_dict)."""
        return checkpoint_dict(self.cfgs[i], step, metrics,
                               {name: stack.member_state_dict(i) for name, stack in self.stacks.items()},
                               {name: opt.member_state_dict(i) for name, opt in self.opts.items()},
                               self.extra_state(i), self.rng[i].get_state(), self.torch_rng[i].get_state())


class GANMembers(Members):
    """Per iteration, D sub-step k updates the members with d_steps > k, then likewise for G."""

    OPTIMISERS = {"d": ("D", "lr_d", "beta1_d", "beta2_d"), "g": ("G", "lr_g", "beta1_g", "beta2_g")}

    def __init__(self, cfgs, data):
        super().__init__(cfgs, data)
        self.iterations = 0  # a population starts from scratch; members resume alone (their trial's iteration)

    def run_iteration(self, run: Batched) -> None:
        gan.iteration(run)
        self.iterations += 1


class VAEMembers(Members):
    OPTIMISERS = {"vae": ("vae", "lr_g", "beta1_g", "beta2_g")}
    SAMPLER = "vae.decoder"

    def sample(self, net, z, prev, chord):
        return net.decoder(z, prev, chord)

    def run_iteration(self, run: Batched) -> None:
        vae.iteration(run)


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

    def run_iteration(self, run: Batched) -> None:
        who = run.taking()
        if self.inner % self.cfgs[0].imle_inner_steps == 0:
            imle.new_round(run, who)
        self.inner += 1
        imle.iteration(run, who)

    def extra_state(self, i: int) -> dict:
        return {**super().extra_state(i), "pool_idx": self.pool_idx[i].clone(), "pool_z": self.pool_z[i].clone(),
                "inner": self.inner}


MEMBERS = {"gan": GANMembers, "vae": VAEMembers, "imle": IMLEMembers}
