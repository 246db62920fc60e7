"""MidiNet-style conditional conv GAN over 16x128 bars (Yang, Chou & Yang 2017), all of it in this file.

Bars are (B, 1, 16, 128): time x pitch. Both networks first collapse the pitch axis with a
(1, 128) kernel, then work along time at resolutions 16 -> 8 -> 4 -> 2 (or back up, for G).

Conditioning (`cond`): none, prev (the previous bar), chord (13-value label), or prev+chord.
Injection (`inject`):
- "1d": every condition becomes one vector -- the previous bar through a conditioner CNN and a linear
  layer, the chord as it is -- concatenated to z (G) or to the features before the last layer (D),
  and broadcast as constant channels into every conv layer. The previous bar's linear layer reads the
  conditioner's features of every one of its 16 steps: from its coarsest (2-step) features alone, the
  previous bar in 1D beside a chord gained 0.36-0.66 of Bach's bar-line continuity over four seeds; from
  every step, 0.80 and 0.83 (docs/findings/2026-12-03-conditioning.md).
- "2d": the conditioner CNN's feature maps of the previous bar are concatenated at matching time
  resolutions (MidiNet's 2D conditioning); the chord is embedded as a learned (channels x time) map
  per resolution. Each condition's whole-bar vector goes beside its maps (the previous bar's from the
  conditioner's coarsest features: its steps are in the maps; from every step, the previous bar alone
  in 2D gained 0.47 of Bach's gain on one seed of two, against 0.76-0.86 from the coarsest): into
  G's first layer and D's head, and broadcast as constant channels into every conv layer. Time-aligned
  maps alone cannot carry what crosses the bar line: G's step t sees the previous bar only within t's
  block at each resolution, so G's first step had a gradient of exactly 0 from the previous bar's steps
  8-15 (its last note among them), and the previous bar in 2D gained 0.35 of Bach's bar-line continuity
  against 0.59 in 1D. Beside the previous bar's maps and vector, a chord carried by its 4-channel maps
  alone was drowned out (0.23 of Bach's chord-tone gain with both conditions; 0.82 and 1.11 on seeds 0
  and 1 with its vector too). Measurements: docs/findings/2026-12-03-conditioning.md.

Generator output (`output`):
- "sigmoid": every cell independently in [0, 1] (any number of notes a step).
- "softmax": each step a categorical over the 128 pitches and a rest (MidiNet's one-hot columns with
  a silence row); the bar holds the pitch probabilities, the rest's share is what they lack of 1.
- "onehot": the same categorical, emitted as a hard one-hot step (straight-through: the forward pass
  takes the argmax, gradients flow through the softmax), so D sees 0/1 bars like the real ones and
  cannot tell generated bars by their softness alone.
D's normalisation (`norm`): "none" or "spectral" (Miyato et al. 2018) on every conv and linear layer.
D's interval features (`intervals` R > 0): for each pair of consecutive steps, the distribution of the
pitch interval between them over -R..R semitones (for 0/1 bars, a one-hot of the interval when both
steps sound), mapped to D's width by a 1x1 conv and added to its early features. D's first layer sees
one step at a time and its time convolutions pair steps 2t and 2t+1 only, so without them a melody that
leaps a fifth at every note looked as real to D as Bach's stepwise lines (docs/findings/2026-12-03-studies-so-far.md, "The reference recipe").
D's pair features (`pair_kernel` K > 0, odd): a (2 steps x K pitches) convolution over every pair of
consecutive steps, its maximum over pitch positions, added to D's early features: learned, pitch-invariant
detectors of what one step leads to in the next (a step, a leap, a repeated note). They cost what their
FLOPs say (at width 32, K 25: the recipe's iterations run at about a quarter of the speed).
Where those extra features go (`extra_route`): "decision" adds them to D's early features, so D's one
real/fake logit uses them; "matching" gives them a head of their own (a linear real/fake logit that D's
loss trains beside the main one) and keeps them out of D's decision, so G meets them only through
feature matching on their means and its adversarial loss sees D's decision alone. Routed so, D's
interval features made the recipe learn faster on bach and kept motifs' modes, where in D's decision
they cost modes (docs/findings/2026-12-03-studies-so-far.md, "The reference recipe").
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

STEPS, PITCHES, CHORD_DIM = 16, 128, 13
RESOLUTIONS = (16, 8, 4, 2)  # time resolutions of the feature maps
PREV_VEC_DIM = 64  # size of the previous-bar vector (both injections)
CHORD_MAP_CHANNELS = 4  # "2d": channels of each chord map


class Conv2d(nn.Conv2d):
    """MidiNet's convolutions are linear maps: a kernel spanning all 128 pitches (or 1x1 on (B, C, 16, 1)
    maps), and pairs of time steps. Computed as einsums (batched matmuls), same parameters and state dict
    as nn.Conv2d. On a CPU, one thread, the reference recipe runs 1.16x the iterations/s of torch's
    convolutions at smoke sizes (width 32) and 1.80x at the default sizes (benchmarks/convolutions.py)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv_as_matmul(self, x)


class ConvTranspose2d(nn.ConvTranspose2d):
    """G's transposes of those maps, as einsums (see Conv2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv_transpose_as_matmul(self, x)


def conv_as_matmul(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """`conv`'s output on x, as an einsum when it spans the last axis or pairs time steps (else torch's conv)."""
    w = conv.weight  # (C_out, C_in, kh, kw)
    kh, kw = w.shape[2:]
    plain = conv.groups == 1 and conv.padding == (0, 0) and conv.dilation == (1, 1)
    if plain and kh == 1 and kw == x.shape[-1] and conv.stride == (1, 1):  # (B, C_in, H, W) -> (B, C_out, H, 1)
        out = torch.einsum("bihp,oip->boh", x, w[:, :, 0])
    elif plain and (kh, kw) == (2, 1) and conv.stride == (2, 1) and x.shape[-1] == 1 and x.shape[-2] % 2 == 0:
        b, c, h, _ = x.shape
        out = torch.einsum("bcht,oct->boh", x[..., 0].reshape(b, c, h // 2, 2), w[..., 0])
    else:  # torch's convolution with the weight read above: reading it again would run spectral norm's power
        return conv._conv_forward(x, w, conv.bias)  # iteration (a training-mode read updates its vectors) twice
    return (out if conv.bias is None else out + conv.bias[:, None]).unsqueeze(-1)


def conv_transpose_as_matmul(conv: nn.ConvTranspose2d, x: torch.Tensor) -> torch.Tensor:
    """`conv`'s output on (B, C_in, H, 1), as an einsum for a (1, W) kernel or a (2, 1) stride-2 one."""
    w = conv.weight  # (C_in, C_out, kh, kw)
    kh, kw = w.shape[2:]
    plain = (conv.groups == 1 and conv.padding == (0, 0) and conv.output_padding == (0, 0)
             and conv.dilation == (1, 1) and x.shape[-1] == 1)
    if plain and kh == 1 and conv.stride == (1, 1):  # (B, C_in, H, 1) -> (B, C_out, H, kw)
        out = torch.einsum("bch,cop->bohp", x[..., 0], w[:, :, 0])
        return out if conv.bias is None else out + conv.bias[:, None, None]
    if plain and (kh, kw) == (2, 1) and conv.stride == (2, 1):  # (B, C_in, H, 1) -> (B, C_out, 2H, 1)
        b, _, h, _ = x.shape
        out = torch.einsum("bch,cot->boht", x[..., 0], w[..., 0]).reshape(b, -1, 2 * h)
        return (out if conv.bias is None else out + conv.bias[:, None]).unsqueeze(-1)
    # torch's transposed convolution with the weight read above (see conv_as_matmul)
    return F.conv_transpose2d(x, w, conv.bias, conv.stride, conv.padding, conv.output_padding, conv.groups, conv.dilation)


class PrevBarCNN(nn.Module):
    """Conditioner: previous bar (B, 1, 16, 128) -> feature maps {16: (B, C, 16, 1), ..., 2: (B, C, 2, 1)}."""

    def __init__(self, width: int):
        super().__init__()
        self.collapse = Conv2d(1, width, (1, PITCHES))
        self.down = nn.ModuleList(Conv2d(width, width, (2, 1), stride=(2, 1)) for _ in RESOLUTIONS[1:])
        self.act = nn.LeakyReLU(0.2)

    def forward(self, prev: torch.Tensor) -> dict[int, torch.Tensor]:
        h = self.act(self.collapse(prev))
        maps = {STEPS: h}
        for res, conv in zip(RESOLUTIONS[1:], self.down):
            h = self.act(conv(h))
            maps[res] = h
        return maps


class ConditionEncoder(nn.Module):
    """Turns (prev, chord) into a vector (every condition's, in both injections) and feature maps per time
    resolution (the vector broadcast in "1d"; in "2d", each condition's time-aligned maps beside its
    broadcast vector)."""

    def __init__(self, cond: str, inject: str, width: int):
        super().__init__()
        self.use_prev = "prev" in cond
        self.use_chord = "chord" in cond
        self.inject = inject
        if self.use_prev:
            self.prev_cnn = PrevBarCNN(width)
            # 1D: the vector is all a network gets of the previous bar, so it reads every step's features; 2D: the
            # maps carry the steps, the vector the whole bar from the coarsest features (module docstring).
            self.prev_res = RESOLUTIONS[0] if inject == "1d" else RESOLUTIONS[-1]
            self.prev_vec = nn.Linear(width * self.prev_res, PREV_VEC_DIM)
        if self.use_chord and inject == "2d":
            self.chord_maps = nn.ModuleDict({str(r): nn.Linear(CHORD_DIM, CHORD_MAP_CHANNELS * r) for r in RESOLUTIONS})
        self.width = width

    @property
    def vec_dim(self) -> int:
        return PREV_VEC_DIM * self.use_prev + CHORD_DIM * self.use_chord

    def channels(self, res: int) -> int:
        if self.inject == "1d":
            return self.vec_dim
        return self.width * self.use_prev + CHORD_MAP_CHANNELS * self.use_chord + self.vec_dim

    def forward(self, prev: torch.Tensor | None, chord: torch.Tensor | None):
        """Returns (vector (B, vec_dim) or None, {res: maps (B, channels(res), res, 1)})."""
        parts, maps = [], {r: [] for r in RESOLUTIONS}
        if self.use_prev:
            prev_maps = self.prev_cnn(prev)
            parts.append(torch.relu(self.prev_vec(prev_maps[self.prev_res].flatten(1))))
            if self.inject == "2d":
                for r in RESOLUTIONS:
                    maps[r] += [prev_maps[r], _over_time(parts[-1], r)]
        if self.use_chord:
            parts.append(chord)
            if self.inject == "2d":
                for r in RESOLUTIONS:
                    maps[r] += [self.chord_maps[str(r)](chord).view(-1, CHORD_MAP_CHANNELS, r, 1), _over_time(chord, r)]
        vec = torch.cat(parts, dim=1) if parts else None
        if vec is not None and self.inject == "1d":
            maps = {r: [_over_time(vec, r)] for r in RESOLUTIONS}
        return vec, {r: torch.cat(m, dim=1) if m else None for r, m in maps.items()}


def _over_time(vec: torch.Tensor, res: int) -> torch.Tensor:
    """(B, C) -> (B, C, res, 1): a vector as constant channels over `res` time steps."""
    return vec[:, :, None, None].expand(-1, -1, res, 1)


def _with(h: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
    return h if extra is None else torch.cat([h, extra], dim=1)


def interval_distribution(x: torch.Tensor, r: int) -> torch.Tensor:
    """(B, 2r+1, 16, 1): at step t < 15, q_t(d) = sum_p x_t(p) x_{t+1}(p + d) for d in -r..r; 0 at t = 15."""
    b, steps = x.shape[0], x.shape[2] - 1
    now, following = x[:, 0, :-1], x[:, 0, 1:]  # (B, 15, 128)
    # A cross-correlation of each step with the next over shifts -r..r: one grouped conv1d, a group per
    # (bar, step); 2.6x faster forward and backward on a CPU than the products of an unfolded window.
    q = F.conv1d(F.pad(following, (r, r)).reshape(1, b * steps, PITCHES + 2 * r),
                 now.reshape(b * steps, 1, PITCHES), groups=b * steps)  # (1, B * 15, 2r+1)
    return F.pad(q.reshape(b, steps, 2 * r + 1).transpose(1, 2), (0, 1)).unsqueeze(-1)


class Generator(nn.Module):
    """z (B, z_dim) + conditions -> bar probabilities (B, 1, 16, 128)."""

    def __init__(self, z_dim: int = 100, width: int = 128, cond: str = "none", inject: str = "1d",
                 output: str = "sigmoid"):
        super().__init__()
        self.z_dim, self.width, self.output = z_dim, width, output
        self.cond = ConditionEncoder(cond, inject, width)
        self.fc = nn.Sequential(nn.Linear(z_dim + self.cond.vec_dim, 1024), nn.BatchNorm1d(1024), nn.ReLU(),
                                nn.Linear(1024, width * RESOLUTIONS[-1]), nn.BatchNorm1d(width * RESOLUTIONS[-1]),
                                nn.ReLU())
        self.up = nn.ModuleList()
        for res in (2, 4, 8):  # input resolution of each up-sampling layer
            self.up.append(nn.Sequential(
                ConvTranspose2d(width + self.cond.channels(res), width, (2, 1), stride=(2, 1)),
                nn.BatchNorm2d(width), nn.ReLU()))
        rest = int(output != "sigmoid")  # the categorical outputs have one more column: the rest
        self.out = ConvTranspose2d(width + self.cond.channels(STEPS), 1, (1, PITCHES + rest))

    def forward(self, z, prev=None, chord=None) -> torch.Tensor:
        vec, maps = self.cond(prev, chord)
        h = self.fc(_with(z, vec)).view(-1, self.width, RESOLUTIONS[-1], 1)  # (B, C, 2, 1)
        for res, layer in zip((2, 4, 8), self.up):
            h = layer(_with(h, maps[res]))  # (B, C, 2 * res, 1)
        logits = self.out(_with(h, maps[STEPS]))  # (B, 1, 16, 128) or (B, 1, 16, 129)
        if self.output == "sigmoid":
            return torch.sigmoid(logits)
        probs = logits.softmax(dim=-1)
        if self.output == "onehot":  # straight-through: hard forward, soft backward
            hard = torch.nn.functional.one_hot(probs.argmax(dim=-1), PITCHES + 1).to(probs.dtype)
            probs = hard + probs - probs.detach()
        return probs[..., :PITCHES]  # (B, 1, 16, 128): the rest column dropped


class Discriminator(nn.Module):
    """bar (B, 1, 16, 128) + conditions -> logit (B,); with return_features, also the early layer's
    features for feature matching: (pitch features, then interval and pair features where D has them).
    With extra_route "matching" (and interval or pair features) the logits are (B, 2): D's decision
    and the extra features' own head; return_features gives the decision's logit only."""

    def __init__(self, width: int = 128, cond: str = "none", inject: str = "1d", out_dim: int = 1, intervals: int = 0,
                 pair_kernel: int = 0, extra_route: str = "decision"):
        super().__init__()
        self.cond = ConditionEncoder(cond, inject, width)
        self.collapse = Conv2d(1, width, (1, PITCHES))
        self.interval_range = intervals
        if intervals:
            self.intervals = Conv2d(2 * intervals + 1, width, 1)
        self.down = nn.ModuleList(Conv2d(width + self.cond.channels(res), width, (2, 1), stride=(2, 1))
                                  for res in RESOLUTIONS[:-1])
        self.head = nn.Sequential(nn.Linear(width * RESOLUTIONS[-1] + self.cond.vec_dim, 1024), nn.LeakyReLU(0.2),
                                  nn.Linear(1024, out_dim))
        self.act = nn.LeakyReLU(0.2)
        if pair_kernel:  # (B, 1, 16, 128) -> (B, C, 15, 128): every pair of consecutive steps, K pitches wide
            self.pair = Conv2d(1, width, (2, pair_kernel), padding=(0, pair_kernel // 2))
        if extra_route == "matching" and (intervals or pair_kernel):  # the extra features' own real/fake head
            self.extra_head = nn.Linear(width * STEPS, 1)

    def forward(self, x, prev=None, chord=None, return_features: bool = False):
        vec, maps = self.cond(prev, chord)
        features = (self.act(self.collapse(x)),)  # (B, C, 16, 1): early layer, used for feature matching
        if self.interval_range:
            features += (self.act(self.intervals(interval_distribution(x, self.interval_range))),)
        if hasattr(self, "pair"):  # the maximum over pitch positions; the last step has no successor
            features += (F.pad(self.act(self.pair(x)).amax(dim=3, keepdim=True), (0, 0, 0, 1)),)
        routed = hasattr(self, "extra_head")  # the extra features go to their own head, not to D's decision
        h = features[0] if routed else sum(features[1:], features[0])
        for res, conv in zip(RESOLUTIONS[:-1], self.down):
            h = self.act(conv(_with(h, maps[res])))  # (B, C, res / 2, 1)
        out = self.head(_with(h.flatten(1), vec))  # (B, out_dim)
        out = out.squeeze(1) if out.shape[1] == 1 else out
        if return_features:
            return out, tuple(f.flatten(1) for f in features)
        if routed:  # both heads' logits: D's loss trains each
            return torch.stack([out, self.extra_head(sum(features[2:], features[1]).flatten(1)).squeeze(1)], 1)
        return out


class Scaled(nn.Module):
    """A parametrization that multiplies a weight by a constant (after spectral normalisation: a layer whose
    spectral norm is `scale` instead of 1). The constant is a plain attribute, not state: a trial that ramps
    it (d_norm_warmup) sets it from its iteration count before each iteration (set_spectral_scale)."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.scale


def set_spectral_scale(module: nn.Module, scale: float) -> None:
    """Give every scaled, spectrally normalised layer of `module` spectral norm `scale`."""
    for m in module.modules():
        if isinstance(m, Scaled):
            m.scale = scale


def spectral_normed(module: nn.Module, scale: float = 1.0) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) on every conv and linear layer of `module`; with scale K,
    each layer's normalised weight is multiplied by K, so a network of L such layers is K^L-Lipschitz
    (through its activations) instead of 1-Lipschitz."""
    from torch.nn.utils import parametrize
    from torch.nn.utils.parametrizations import spectral_norm

    for name, child in list(module.named_children()):
        if isinstance(child, (nn.Conv2d, nn.Linear)):
            layer = spectral_norm(child)
            if scale != 1.0:
                parametrize.register_parametrization(layer, "weight", Scaled(scale))
            setattr(module, name, layer)
        else:
            spectral_normed(child, scale)
    return module


class Encoder(Discriminator):
    """For the VAE: bar + conditions -> (mu, logvar), each (B, z_dim); D's architecture with a wider head."""

    def __init__(self, z_dim: int = 100, width: int = 128, cond: str = "none", inject: str = "1d"):
        super().__init__(width, cond, inject, out_dim=2 * z_dim)

    def forward(self, x, prev=None, chord=None):
        return super().forward(x, prev, chord).chunk(2, dim=1)
