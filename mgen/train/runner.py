"""Who a method's iteration runs on. Each method writes its iteration once (`gan.iteration`,
`vae.iteration`, `imle.new_round` and `imle.iteration`) against this small interface, and two runners
carry it out: `Solo`, one trial's own networks, optimisers and generator (here), and `Batched`, every
live member of a population at once under vmap (mgen/train/members.py). So a trial and a population
member take the same steps in the same order and cannot drift apart.

The interface, for a method's iteration (`who` is what `taking` returned; a Solo run ignores it):
- `cfg`, `data`: the (shared) trial config and the TrialData;
- `rounds(field)`: how many sub-steps of a kind this iteration has (the most over the live members);
  `taking(field, k)`: who takes sub-step k (every live member when field is None);
- `batch(who)`, `noise(who, n)`, `randint(who, high, size)`, `randn(who, n)`: each from the trial's own
  generator, in the trial's order; `global_noise(who)`: the VAE's reparameterisation noise (a trial's
  comes from torch's global generator inside the VAE: None);
- `call(nets, fn, *args, who=)`: fn(*networks, *args) (a population: every member's networks at once);
- `value(field, who)`: a field members may differ in (a float, or a tensor with one value a member);
- `update(opt, loss, who, key)`: an optimiser step on the loss, recorded under key; `record(key, value,
  who)`: a number to report; `losses()`: the iteration's reported numbers (means over its sub-steps);
- `net(name)`: the module whose spectral scale is set; `iterations_done()`;
- `get(name, who)`, `put(name, value, who)`: the method's own state (IMLE's matched pool).
"""
from __future__ import annotations

from collections import defaultdict

import torch


class Solo:
    """One trial's side of its method's iteration: its networks and optimisers, and its generator `g`."""

    def __init__(self, method, g: torch.Generator):
        self.method, self.cfg, self.data, self.g = method, method.cfg, method.data, g
        self.records: dict[str, list[float]] = defaultdict(list)

    def rounds(self, field: str) -> int:
        return getattr(self.cfg, field)

    def taking(self, field: str | None = None, k: int = 0):
        return None

    def batch(self, who):
        return self.data.batch(self.cfg.batch_size, self.g)

    def noise(self, who, n: int | None = None) -> torch.Tensor:
        return self.data.noise(n or self.cfg.batch_size, self.method.z_dim, self.g)

    def global_noise(self, who):
        return None

    def randint(self, who, high: int, size: tuple) -> torch.Tensor:
        return torch.randint(high, size, generator=self.g)

    def randn(self, who, n: int) -> torch.Tensor:
        return torch.randn(n, self.method.z_dim, generator=self.g)

    def call(self, nets: list[str], fn, *args, who=None):
        return fn(*(self.method.nets[name] for name in nets), *args)

    def value(self, field: str, who):
        return getattr(self.cfg, field)

    def update(self, opt: str, loss: torch.Tensor, who, key: str) -> None:
        self.records[key].append(self.method.update(opt, loss))

    def record(self, key: str, value: torch.Tensor, who) -> None:
        self.records[key].append(value.item())

    def losses(self) -> dict[str, float]:
        return {k: sum(v) / len(v) for k, v in self.records.items()}

    def net(self, name: str):
        return self.method.nets[name]

    def iterations_done(self) -> int:
        """From the update count a checkpoint restores (a resumed trial goes on from it)."""
        return self.method.counts["d_updates"] // self.cfg.d_steps

    def get(self, name: str, who):
        return getattr(self.method, name)

    def put(self, name: str, value, who) -> None:
        setattr(self.method, name, value)
