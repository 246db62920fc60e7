"""Every model family and conditioning mode builds, has the right shapes, and learns on tiny data."""
import pytest
import torch

from mgen.data import load_dataset
from mgen.errors import UserError
from mgen.models import CONDITIONS, INJECTIONS, build_models
from mgen.train import TrialConfig
from mgen.train.trial import TrialData, build_method

B = 4


def conditions():
    return torch.rand(B, 1, 16, 128).round(), torch.eye(13)[torch.arange(B)]


@pytest.mark.parametrize("cond", CONDITIONS)
@pytest.mark.parametrize("inject", INJECTIONS)
def test_midinet_gan_and_vae_shapes_for_every_conditioning(cond, inject):
    prev, chord = conditions()
    gan = build_models("gan", "bars", 8, 16, 16, cond, inject)
    z = torch.randn(B, 8)
    bars = gan["G"](z, prev, chord)
    assert bars.shape == (B, 1, 16, 128) and bars.min() >= 0 and bars.max() <= 1
    logit, features = gan["D"](bars, prev, chord, return_features=True)
    assert logit.shape == (B,) and [f.shape for f in features] == [(B, 16 * 16)]
    vae = build_models("vae", "bars", 8, 16, 16, cond, inject)["vae"]
    recon, mu, logvar = vae(bars.detach(), prev, chord)
    assert recon.shape == bars.shape and mu.shape == logvar.shape == (B, 8)
    # A conditional generator's output depends on its conditions.
    if cond != "none":
        other_prev, other_chord = torch.zeros_like(prev), torch.roll(chord, 1, dims=0)
        gan["G"].eval()
        assert not torch.allclose(gan["G"](z, prev, chord), gan["G"](z, other_prev, other_chord))


@pytest.mark.parametrize("inject", INJECTIONS)
def test_gs_first_step_sees_the_previous_bars_last_step(inject):
    """Continuity at the bar line needs the previous bar's end at G's first step. Time-aligned 2D maps alone gave
    G's step 0 a gradient of exactly 0 from the previous bar's steps 8-15; the previous bar's vector reaches it."""
    G = build_models("gan", "bars", 8, 16, 16, "prev", inject)["G"].eval()
    prev = torch.rand(B, 1, 16, 128, requires_grad=True)
    G(torch.randn(B, 8), prev, None)[:, :, 0].sum().backward()
    assert (prev.grad[:, :, 8:].abs().sum(dim=(0, 1, 3)) > 0).all()


def test_interval_distribution_of_constructed_bars():
    from mgen.models.midinet import interval_distribution

    bar = torch.zeros(1, 1, 16, 128)
    melody = [60, 60, 64, 64, 62, None, 72, 55] + [55] * 8  # repeat, up a third, repeat, down a step, rests, down 17
    for t, pitch in enumerate(melody):
        if pitch is not None:
            bar[0, 0, t, pitch] = 1
    q = interval_distribution(bar, 12)[0, :, :, 0]  # (25, 16): interval d = row - 12, at step t
    expected = {0: 0, 1: 4, 2: 0, 3: -2, 6: -17, 7: 0}  # step -> interval to the next step; -17 is out of range
    for t in range(16):
        d = expected.get(t, 0 if 7 <= t < 15 else None)
        if d is None or abs(d) > 12:  # a rest on either side, an interval beyond R, or the last step: nothing
            assert q[:, t].sum() == 0, t
        else:
            assert q[:, t].tolist() == [float(row - 12 == d) for row in range(25)], t
    # Soft bars give the distribution of intervals: half C, half E, then all D -> +2 and -2, a half each.
    soft = torch.zeros(1, 1, 16, 128)
    soft[0, 0, 0, 60] = soft[0, 0, 0, 64] = 0.5
    soft[0, 0, 1, 62] = 1
    assert interval_distribution(soft, 12)[0, :, 0, 0][[10, 14]].tolist() == [0.5, 0.5]
    # D with interval features (spectral norm included) returns them as a second feature group.
    d = build_models("gan", "bars", 8, 16, 16, d_norm="spectral", d_intervals=12)["D"]
    logit, features = d(bar, return_features=True)
    assert logit.shape == (1,) and [f.shape for f in features] == [(1, 256), (1, 256)]


def test_pair_features_see_the_step_between_notes_wherever_it_lies():
    """D's pair features (d_pair_kernel): the same melody a fourth higher gives the same features (the maximum
    over pitch positions), a melody that leaps does not, and D returns them as their own feature group."""
    def bar(pitches):
        x = torch.zeros(1, 1, 16, 128)
        for t, pitch in enumerate(pitches):
            x[0, 0, t, pitch] = 1
        return x

    torch.manual_seed(0)
    d = build_models("gan", "bars", 8, 16, 16, d_pair_kernel=25)["D"].eval()
    steps = [60, 62, 64, 65, 67, 65, 64, 62] * 2
    with torch.no_grad():
        (_, (pitch, pairs)), (_, (pitch_up, pairs_up)), (_, (_, leaps)) = (
            d(bar(p), return_features=True) for p in (steps, [p + 5 for p in steps], [60, 67] * 8))
    assert pairs.shape == (1, 256) and torch.allclose(pairs, pairs_up, atol=1e-6)
    assert not torch.allclose(pitch, pitch_up, atol=1e-3)  # the pitch features do see where the melody lies
    assert (pairs - leaps).abs().max() > 1e-2
    # Both kinds at once: pitch, interval, then pair features.
    d = build_models("gan", "bars", 8, 16, 16, d_norm="spectral", d_intervals=6, d_pair_kernel=5)["D"]
    assert [f.shape for f in d(bar(steps), return_features=True)[1]] == [(1, 256)] * 3


def test_routed_to_matching_the_extra_features_have_their_own_head_and_stay_out_of_ds_decision():
    """d_extra_route="matching": D's logits are (decision, extra head); the decision does not depend on the
    interval or pair features, the extra head only on them, and feature matching still gets all three groups."""
    torch.manual_seed(0)
    d = build_models("gan", "bars", 8, 16, 16, d_norm="spectral", d_intervals=6, d_pair_kernel=5,
                     d_extra_route="matching")["D"]
    bar = torch.zeros(4, 1, 16, 128)
    bar[:, 0, torch.arange(16), 60 + torch.arange(16) % 5] = 1
    logits = d(bar)
    assert logits.shape == (4, 2)
    decision, extra = logits[:, 0].sum(), logits[:, 1].sum()
    named = dict(d.named_parameters())
    branch = [n for n in named if n.startswith(("intervals.", "pair.", "extra_head."))]
    main = [n for n in named if n.startswith(("collapse.", "down.", "head."))]
    assert branch and main
    grads = torch.autograd.grad(decision, [named[n] for n in branch], allow_unused=True, retain_graph=True)
    assert all(g is None or g.abs().max() == 0 for g in grads)  # the decision does not see them
    grads = torch.autograd.grad(extra, [named[n] for n in main], allow_unused=True)
    assert all(g is None or g.abs().max() == 0 for g in grads)  # the extra head sees only them
    d.eval()  # (in training mode every call runs a power iteration, so two calls differ slightly)
    logit, features = d(bar, return_features=True)
    assert torch.equal(logit, d(bar)[:, 0]) and [f.shape for f in features] == [(4, 256)] * 3
    # Routed to D's decision (the default), one logit that does depend on them.
    torch.manual_seed(0)
    d = build_models("gan", "bars", 8, 16, 16, d_norm="spectral", d_intervals=6)["D"]
    assert d(bar).shape == (4,) and d.intervals.weight.requires_grad
    grad = torch.autograd.grad(d(bar).sum(), d.intervals.parametrizations.weight.original)[0]
    assert grad.abs().max() > 0


def test_a_spectrally_normed_convolution_of_another_shape_runs_one_power_iteration_a_call():
    """A convolution that falls back to torch's (D's pair features) reads its weight once a call: reading a
    spectrally normed weight runs a power iteration, and two a call would train another network."""
    from torch import nn
    from torch.nn.utils.parametrizations import spectral_norm

    from mgen.models import midinet

    torch.manual_seed(0)
    a = spectral_norm(midinet.Conv2d(1, 4, (2, 5), padding=(0, 2)))
    b = spectral_norm(nn.Conv2d(1, 4, (2, 5), padding=(0, 2)))
    b.load_state_dict(a.state_dict())
    x = torch.randn(3, 1, 16, 128)
    for _ in range(3):
        assert torch.equal(a(x), b(x))
    assert torch.equal(a.parametrizations.weight[0]._u, b.parametrizations.weight[0]._u)


def test_scaled_spectral_normalisation_gives_each_layer_that_spectral_norm():
    """d_norm_scale K: every normalised layer of D is its spectrally normalised weight times K, so its
    spectral norm is K (1 without it); the state dict has the same keys as without."""
    def disc(scale):
        torch.manual_seed(0)
        return build_models("gan", "bars", 8, 8, 8, g_output="softmax", d_norm="spectral", d_intervals=3,
                            d_extra_route="matching", d_norm_scale=scale)["D"].eval()

    plain, scaled = disc(1.0), disc(1.75)
    assert plain.state_dict().keys() == scaled.state_dict().keys()
    layers = [name for name, m in scaled.named_modules() if hasattr(m, "parametrizations")]
    assert len(layers) == 8  # collapse, intervals, 3 time convs, 2 head layers, the extra head
    for name in layers:
        layer = scaled.get_submodule(name)
        normalised = layer.parametrizations.weight[0](layer.parametrizations.weight.original)  # eval: no update
        torch.testing.assert_close(layer.weight, 1.75 * normalised)
        for net, norm in ((scaled, 1.75), (plain, 1.0)):  # a few power iterations estimate the norm
            sigma = torch.linalg.matrix_norm(net.get_submodule(name).weight.flatten(1), ord=2)
            assert abs(float(sigma) / norm - 1.0) < 0.2, (name, float(sigma))


@pytest.mark.parametrize("transpose", [False, True])
def test_midinet_convolutions_as_matmuls_equal_torchs_convolutions(transpose):
    """midinet's Conv2d / ConvTranspose2d compute their linear maps as einsums: same outputs and gradients
    as torch's convolutions with the same parameters, for every shape MidiNet uses, and torch's own
    convolution for any other shape (here a 3x3 kernel)."""
    from torch import nn

    from mgen.models import midinet

    mine, ref = (midinet.ConvTranspose2d, nn.ConvTranspose2d) if transpose else (midinet.Conv2d, nn.Conv2d)
    cases = ([(8, 1, (1, 129), 1, (4, 8, 16, 1)), (8, 6, (2, 1), (2, 1), (4, 8, 4, 1)), (3, 5, 3, 1, (2, 3, 6, 6))]
             if transpose else
             [(1, 8, (1, 128), 1, (4, 1, 16, 128)), (8, 6, (2, 1), (2, 1), (4, 8, 16, 1)), (25, 8, 1, 1, (4, 25, 16, 1)),
              (3, 5, 3, 1, (2, 3, 6, 6))])
    torch.manual_seed(0)
    for c_in, c_out, kernel, stride, shape in cases:
        a, b = mine(c_in, c_out, kernel, stride=stride), ref(c_in, c_out, kernel, stride=stride)
        b.load_state_dict(a.state_dict())
        x = torch.randn(shape)
        xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        ya, yb = a(xa), b(xb)
        assert ya.shape == yb.shape and torch.allclose(ya, yb, atol=1e-5), (kernel, shape)
        (ya * yb.detach()).sum().backward()
        (yb * yb.detach()).sum().backward()
        assert torch.allclose(xa.grad, xb.grad, atol=1e-4) and torch.allclose(a.weight.grad, b.weight.grad, atol=1e-4)


def test_mlp_family_shapes():
    nets = build_models("gan", "points", 0, 0, 0)
    x = nets["G"](torch.randn(B, 2))
    assert x.shape == (B, 2) and nets["D"](x).shape == (B,)
    assert build_models("imle", "points", 0, 0, 0)["G"].z_dim == 2
    mu, logvar = build_models("vae", "points", 0, 0, 0)["vae"].encoder(x)
    assert mu.shape == (B, 2)


def test_pacgan_maxout_discriminator():
    # PacGAN's 2D D: 3 hidden layers of 200 linear maxout units with 5 pieces, then one linear output.
    d = build_models("gan", "points", 0, 0, 0, d_maxout=5)["D"]
    assert sum(p.numel() for p in d.parameters()) == (2 * 1000 + 1000) + 2 * (200 * 1000 + 1000) + 201
    x = torch.randn(B, 2)
    logits, (features,) = d(x, return_features=True)
    assert logits.shape == (B,) and features.shape == (B, 200)
    # Each unit is the max of its pieces: never below any single piece.
    pieces = d.first.linear(x).view(B, 200, 5)
    assert torch.equal(features, pieces.amax(dim=2)) and (features >= pieces[..., 0]).all()
    with pytest.raises(UserError, match="d_maxout=1 is a linear layer"):
        TrialConfig.from_dict({"data": "ring", "d_maxout": 1})
    with pytest.raises(UserError, match="d_maxout is for the 2D sets"):
        TrialConfig.from_dict({"data": "bach", "d_maxout": 5})


def tiny(recipe: bool = False, **kw):
    """A tiny trial of exactly the fields given (the dataclass's defaults for the rest, unless `recipe`)."""
    base = dict(data="motifs", data_n_samples=256, data_k_motifs=4, g_width=16, d_width=16, z_dim=8,
                batch_size=32, steps=40, eval_every=20, eval_samples=64)
    return TrialConfig.from_dict({**base, **kw}, recipe=recipe)


def run_iterations(cfg, n):
    torch.manual_seed(cfg.seed)
    data = TrialData(load_dataset(cfg.data_config()), torch.device("cpu"))
    method = build_method(cfg, data)
    g = torch.Generator().manual_seed(cfg.seed)
    return method, [method.iteration(g) for _ in range(n)]


@pytest.mark.parametrize("cond", ["none", "prev+chord"])
def test_vae_and_imle_losses_fall(cond):
    for method in ("vae", "imle"):
        _, losses = run_iterations(tiny(method=method, cond=cond, lr_g=2e-3, imle_inner_steps=10), 60)
        first = sum(l["loss"] for l in losses[:5]) / 5
        last = sum(l["loss"] for l in losses[-5:]) / 5
        assert last < 0.7 * first, (method, first, last)


@pytest.mark.parametrize("loss", ["nonsat", "minimax", "hinge", "lsgan", "wgan-gp"])
def test_discriminator_loss_falls_when_d_trains_more(loss):
    _, losses = run_iterations(tiny(loss=loss, d_steps=5, g_steps=1, lr_d=1e-3), 20)
    first, last = losses[0]["loss_d"], sum(l["loss_d"] for l in losses[-3:]) / 3
    assert last < first, (loss, first, last)


def test_generator_loss_falls_against_a_nearly_frozen_discriminator():
    _, losses = run_iterations(tiny(d_steps=1, g_steps=5, lr_d=1e-7, lr_g=1e-3), 15)
    assert sum(l["loss_g"] for l in losses[-3:]) / 3 < losses[0]["loss_g"]


@pytest.mark.parametrize("d_steps, g_steps", [(5, 1), (1, 1), (1, 5), (3, 2)])
def test_schedule_does_exactly_d_steps_and_g_steps_updates(d_steps, g_steps):
    cfg = tiny(d_steps=d_steps, g_steps=g_steps)
    torch.manual_seed(0)
    data = TrialData(load_dataset(cfg.data_config()), torch.device("cpu"))
    method = build_method(cfg, data)
    counted = {"d": 0, "g": 0}
    for name, opt in method.optimizers().items():
        opt.register_step_post_hook(lambda *_, name=name: counted.__setitem__(name, counted[name] + 1))
    g = torch.Generator().manual_seed(0)
    for _ in range(7):
        method.iteration(g)
    assert counted == {"d": 7 * d_steps, "g": 7 * g_steps}
    assert method.counters() == {"d_updates": 7.0 * d_steps, "g_updates": 7.0 * g_steps}


def test_mismatch_aware_d_counts_real_bars_under_rolled_conditions_as_fake():
    """d_mismatch w: D's loss is (1 - w) L(real, fake) + w L(real, real under its neighbour's conditions), on
    D's decision logit; without a condition there is nothing to mismatch and the loss is the plain one."""
    from mgen.models.midinet import Discriminator
    from mgen.train.gan import discriminator_loss
    from mgen.train.losses import LOSSES

    torch.manual_seed(0)
    D = Discriminator(width=8, cond="prev+chord", inject="1d", intervals=3, extra_route="matching")
    D_plain = Discriminator(width=8)
    real, fake = torch.rand(6, 1, 16, 128), torch.rand(6, 1, 16, 128)
    prev, chord = torch.rand(6, 1, 16, 128), torch.eye(13)[:6]
    plain = LOSSES["nonsat"][0](D(real, prev, chord), D(fake, prev, chord), 0.0)
    assert torch.equal(discriminator_loss(D, real, fake, prev, chord, "nonsat", 0.0), plain)
    mismatched = D(real, prev.roll(1, 0), chord.roll(1, 0))[:, 0]
    expected = 0.5 * plain + 0.5 * LOSSES["nonsat"][0](D(real, prev, chord)[:, 0], mismatched, 0.0)
    assert torch.allclose(discriminator_loss(D, real, fake, prev, chord, "nonsat", 0.0, mismatch=0.5), expected)
    D_chord = Discriminator(width=8, cond="chord", inject="2d")  # one condition: every bar under its neighbour's
    expected = 0.5 * LOSSES["nonsat"][0](D_chord(real, None, chord), D_chord(fake, None, chord), 0.0) + \
        0.5 * LOSSES["nonsat"][0](D_chord(real, None, chord), D_chord(real, None, chord.roll(1, 0)), 0.0)
    assert torch.allclose(discriminator_loss(D_chord, real, fake, None, chord, "nonsat", 0.0, mismatch=0.5), expected)
    unconditioned = LOSSES["nonsat"][0](D_plain(real), D_plain(fake), 0.0)
    assert torch.equal(discriminator_loss(D_plain, real, fake, None, None, "nonsat", 0.0, mismatch=0.5), unconditioned)
