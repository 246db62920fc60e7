"""P copies of one network as one batched model: parameters and buffers stacked along a leading member
axis (torch.func.stack_module_state) and called with torch.func.functional_call under vmap.

Each member computes exactly what its own module would (tests/train/test_population.py), with two
forward passes replaced on the shared, storage-less template that vmap calls:
- spectral normalisation: torch's parametrization updates its power-iteration vectors with `out=`
  ops, which vmap cannot batch; the replacement does the same iteration and copies into the buffers.
- MidiNet's convolutions are linear maps (a kernel spanning all 128 pitches; pairs of time steps;
  their transposes). Under vmap torch runs convolutions as grouped convolutions, 2.5-3.5x slower on a
  CPU (measured with P=16, width 32) than the same maps as einsums, which vmap turns into batched
  matmuls. mgen.models.midinet computes them as einsums for solo trials too; any other convolution a
  member holds is routed through the same functions.
"""
from __future__ import annotations

import copy
import types
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from torch.nn.utils.parametrizations import _SpectralNorm

from mgen.models.midinet import conv_as_matmul, conv_transpose_as_matmul


def _spectral_norm_forward(self: _SpectralNorm, weight: torch.Tensor) -> torch.Tensor:
    """torch's _SpectralNorm.forward for matrices, with the power iteration's buffers written by copy_."""
    weight_mat = self._reshape_weight_to_matrix(weight)
    u, v = self._u, self._v
    if self.training:
        with torch.no_grad():
            for _ in range(self.n_power_iterations):
                u = F.normalize(torch.mv(weight_mat, v), dim=0, eps=self.eps)
                v = F.normalize(torch.mv(weight_mat.H, u), dim=0, eps=self.eps)
            self._u.copy_(u)
            self._v.copy_(v)
    else:
        u, v = u.clone(), v.clone()
    return weight / torch.vdot(u, torch.mv(weight_mat, v))


def vmappable(module: nn.Module) -> nn.Module:
    """A storage-less copy of `module` whose forward passes vmap can batch (module docstring)."""
    base = copy.deepcopy(module).to("meta")
    for m in base.modules():
        if isinstance(m, _SpectralNorm):
            m.forward = types.MethodType(_spectral_norm_forward, m)
        # isinstance: spectral normalisation makes a layer's class a parametrized subclass of Conv2d
        elif isinstance(m, nn.Conv2d):  # mgen.models.midinet's convolutions already run as einsums
            m.forward = types.MethodType(conv_as_matmul, m)
        elif isinstance(m, nn.ConvTranspose2d):
            m.forward = types.MethodType(conv_transpose_as_matmul, m)
    return base


class Stacked:
    """P members of one architecture. `params` are leaf tensors (P, ...) that collect gradients; `buffers`
    (batch-norm statistics, spectral-norm vectors) are updated in place by training-mode calls."""

    def __init__(self, modules: Sequence[nn.Module]):
        self.size = len(modules)
        params, buffers = stack_module_state(list(modules))
        self.params = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        self.buffers = {k: v.detach() for k, v in buffers.items()}
        self.template = copy.deepcopy(modules[0])  # a real module: members' state dicts are built through it
        self.base = vmappable(modules[0])

    def train(self, mode: bool = True) -> "Stacked":
        self.base.train(mode)
        return self

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.grad = None

    def state(self, members: torch.Tensor | None):
        """(params, buffers) of `members` (all when None); a subset's buffers are copies, see write_back."""
        if members is None:
            return self.params, self.buffers
        return {k: v[members] for k, v in self.params.items()}, {k: v[members] for k, v in self.buffers.items()}

    def write_back(self, buffers: dict, members: torch.Tensor | None) -> None:
        """Store the buffers a training-mode call of a subset updated."""
        if members is None or not self.base.training:
            return
        with torch.no_grad():
            for k, v in self.buffers.items():
                v[members] = buffers[k]

    def member_state_dict(self, i: int) -> dict[str, torch.Tensor]:
        """Member i's state dict, as its own module's state_dict() gives it."""
        with torch.no_grad():
            self.template.load_state_dict({k: v[i] for k, v in {**self.params, **self.buffers}.items()})
        return {k: v.detach().clone() for k, v in self.template.state_dict().items()}


def per_member(stacks: Sequence[Stacked], fn, *args, members: torch.Tensor | None = None, shared: Sequence[bool] = ()):
    """fn(*nets, *args) for every member (or every one of `members`) at once, under vmap.

    nets[j](*xs, **kw) calls that member's copy of stacks[j] (a Member). Arguments carry a leading member axis,
    except None and those marked in `shared` (the same tensor for every member, e.g. evaluation
    conditions). Returns fn's outputs stacked along the member axis.
    """
    states = [s.state(members) for s in stacks]

    def one(member_states, *xs):
        return fn(*(Member(s.base, st) for s, st in zip(stacks, member_states)), *xs)

    in_dims = (0,) + tuple(None if (x is None or (i < len(shared) and shared[i])) else 0 for i, x in enumerate(args))
    out = vmap(one, in_dims=in_dims)(states, *args)
    for s, (_, buffers) in zip(stacks, states):
        s.write_back(buffers, members)
    return out


class Member:
    """One member's copy of a stacked network inside `per_member`: call it like the module; its submodules
    (e.g. a VAE's `decoder`) are reached as attributes."""

    def __init__(self, module: nn.Module, state: tuple[dict, dict]):
        self.module, self.state = module, state

    def __call__(self, *args, **kwargs):
        return functional_call(self.module, self.state, args, kwargs)

    def __getattr__(self, name: str):
        part = getattr(self.module, name)
        if not isinstance(part, nn.Module):
            return part
        prefix = name + "."
        return Member(part, tuple({k[len(prefix):]: v for k, v in d.items() if k.startswith(prefix)} for d in self.state))
