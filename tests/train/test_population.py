"""Populations: each member computes what its own trial computes, reports as it, and its checkpoints are
ordinary trial checkpoints that resume alone."""
import math

import pytest
import torch

from mgen.cli import main
from mgen.data import load_dataset
from mgen.errors import UserError
from mgen.train import TrialConfig, load_checkpoint, save_checkpoint, train
from mgen.train.config import IMLE_RECIPE, REFERENCE_RECIPE, VAE_RECIPE
from mgen.train.members import MEMBERS as METHOD_MEMBERS
from mgen.train.population import Population, population_key
from mgen.train.trial import TrialData, build_method, evaluate_method
from tests.train.test_models import tiny

RECIPE = {k: v for k, v in REFERENCE_RECIPE.items() if k not in ("d_steps", "g_steps", "lr_d", "lr_g")}
ARCHITECTURES = {
    # softmax output, spectral-normalised D with its norm ramped 1 -> 1.75 (here over 3 of the 4 steps), feature matching
    "recipe": {**RECIPE, "d_norm_warmup": 3},
    # sigmoid output, no normalisation, D's interval and pair features, real bars under mismatched conditions
    "conditioned": {"cond": "prev+chord", "inject": "2d", "loss": "lsgan", "d_intervals": 6, "d_pair_kernel": 5,
                    "fm_weight": 1.0, "d_mismatch": 0.5},
    # spectral normalisation with each layer's norm scaled to 1.5 (d_norm_scale)
    "points": {"data": "ring", "data_n_samples": 512, "d_maxout": 5, "d_norm": "spectral", "d_norm_scale": 1.5,
               "loss": "hinge"},
}
# Members differ in what a trial's scalars set: seed, learning rates, betas, D/G schedule, smoothing.
MEMBERS = [{"seed": 0},
           {"seed": 1, "d_steps": 3, "lr_d": 1e-3},
           {"seed": 2, "g_steps": 2, "label_smoothing": 0.1, "beta1_g": 0.8, "lr_g": 5e-4}]
BASELINES = {  # VAE and IMLE members: seed, learning rate, betas, KL weight
    "vae": {"method": "vae", "cond": "chord"},
    "imle": {"method": "imle", "cond": "prev", "imle_inner_steps": 3, "imle_pool": 64, "imle_m": 8},
    # their recipes: the pitch-or-rest categorical output, the recipes' learning rates and KL weight
    "vae_recipe": {**VAE_RECIPE, "cond": "chord"},
    "imle_recipe": {**IMLE_RECIPE, "cond": "prev", "imle_inner_steps": 3, "imle_pool": 64, "imle_m": 8},
}
BASELINE_MEMBERS = [{"seed": 0}, {"seed": 1, "lr_g": 1e-3}, {"seed": 2, "beta1_g": 0.8}]
STEPS = 4


def member_configs(arch: str, **kw) -> list[TrialConfig]:
    if arch in BASELINES:
        members = [dict(m) for m in BASELINE_MEMBERS]
        if arch.startswith("vae"):
            members[1]["kl_weight"] = 0.5
        return [tiny(**{**BASELINES[arch], **m}, steps=STEPS, eval_every=2, **kw) for m in members]
    return [tiny(**ARCHITECTURES[arch], **m, steps=STEPS, eval_every=2, **kw) for m in MEMBERS]


def params(checkpoint: dict) -> dict[str, torch.Tensor]:
    """Every float tensor of the networks, except the biases of layers that feed a batch norm and the
    norm's running mean. Batch norm subtracts such a bias, so its gradient is zero up to rounding, and
    Adam (whose step is about lr whatever the gradient's size) turns the rounding of either summation
    order into an lr-sized step in a random direction: they wander apart even between two builds of
    torch, without changing what the network computes in training. The same holds for a categorical
    output's bias."""
    # A categorical output's bias (one channel, added to every pitch's and the rest's logit) shifts all
    # logits alike, which the softmax ignores: its gradient is zero up to rounding too.
    categorical = checkpoint["config"].get("g_output") in ("softmax", "onehot")
    out = {}
    for net, sd in checkpoint["models"].items():
        for key, value in sd.items():
            head, _, leaf = key.rpartition(".")
            parent, _, index = head.rpartition(".")
            feeds_norm = leaf == "bias" and index.isdigit() and f"{parent}.{int(index) + 1}.running_mean" in sd
            shift_only = categorical and key in ("out.bias", "decoder.out.bias")
            if value.is_floating_point() and not feeds_norm and not shift_only and leaf != "running_mean":
                out[f"{net}.{key}"] = value
    return out


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def tolerance(cfg: TrialConfig) -> float:
    # Adam moves a weight by about lr a step whatever the gradient's size, so rounding differences in
    # near-zero gradients (batched matmuls sum in another order) show up as a small share of lr.
    return 0.05 * max(cfg.lr_d, cfg.lr_g) * STEPS


@pytest.mark.parametrize("arch", list(ARCHITECTURES) + list(BASELINES))
def test_each_member_trains_as_its_own_trial(arch):
    cfgs = member_configs(arch)
    ds = load_dataset(cfgs[0].data_config())
    together = list(Population(cfgs, ds).run())
    assert [[r.step for r in reports] for reports in together] == [[2] * 3, [4] * 3]
    if arch.startswith("imle"):  # its pools and chosen noise are part of the checkpoint, as in its own trial's
        assert together[-1][1].checkpoint["extra"]["pool_z"].shape == (64, cfgs[0].z_dim or 8)
    for i, cfg in enumerate(cfgs):
        alone = list(train(cfg, ds))
        for a, p in zip(alone, (reports[i] for reports in together)):
            assert p.step == a.step and p.done == a.done and list(p.metrics) == list(a.metrics)
            for key in (k for k in a.metrics if k.startswith("loss")):
                assert p.metrics[key] == pytest.approx(a.metrics[key], rel=1e-3, abs=1e-5), (i, key)
            counts = [k for k in a.metrics if k.endswith("_updates")]
            assert counts and [p.metrics[k] for k in counts] == [a.metrics[k] for k in counts]
        difference = max_difference(params(alone[-1].checkpoint), params(together[-1][i].checkpoint))
        assert difference < tolerance(cfg), (i, difference)
        # The check can fail: the member differs from a neighbour's trial by far more than the tolerance.
        neighbour = list(train(cfgs[(i + 1) % 3], ds))[-1]
        assert max_difference(params(neighbour.checkpoint), params(together[-1][i].checkpoint)) > 20 * tolerance(cfg)


def test_a_members_evaluation_is_its_trials_evaluation():
    cfgs = member_configs("recipe", cond="chord")
    ds = load_dataset(cfgs[0].data_config())
    data = TrialData(ds, torch.device("cpu"))
    population = Population(cfgs, ds)
    scored = list(population._evaluate(METHOD_MEMBERS["gan"](cfgs, data), data, [0, 1, 2], step=7))
    for cfg, (metrics, samples) in zip(cfgs, scored):
        torch.manual_seed(cfg.seed)
        alone, alone_samples = evaluate_method(build_method(cfg, data), data, cfg, step=7)
        assert metrics.keys() == alone.keys()
        for key, value in alone.items():
            assert metrics[key] == pytest.approx(value, rel=1e-6, abs=1e-9) or (math.isnan(value) and math.isnan(metrics[key])), key
        assert (samples == alone_samples).all()


def test_a_members_checkpoint_resumes_alone_and_generates(tmp_path, capsys):
    cfgs = member_configs("recipe")
    ds = load_dataset(cfgs[0].data_config())
    together = list(Population(cfgs, ds).run())
    middle, end = together[0][1], together[1][1]
    path = save_checkpoint(middle.checkpoint, tmp_path / "member" / "checkpoint.pt")
    resumed = list(train(cfgs[1], ds, resume=load_checkpoint(path, cfgs[1])))
    assert [r.step for r in resumed] == [4]
    assert max_difference(params(resumed[-1].checkpoint), params(end.checkpoint)) < tolerance(cfgs[1])
    assert resumed[-1].metrics["d_updates"] == end.metrics["d_updates"] == 12
    assert main(["generate", str(path.parent), "--out", str(tmp_path / "out"), "--n", "4"]) == 0
    assert (tmp_path / "out").is_dir() and any((tmp_path / "out").iterdir())


def test_a_stopped_member_is_left_out_and_the_others_go_on():
    cfgs = member_configs("recipe")
    ds = load_dataset(cfgs[0].data_config())
    population = Population(cfgs, ds)
    reports = []
    for step_reports in population.run():
        reports.append(step_reports)
        population.stop(0)
    assert reports[0][0] is not None and reports[1][0] is None
    alone = list(train(cfgs[2], ds))[-1]
    assert max_difference(params(alone.checkpoint), params(reports[1][2].checkpoint)) < tolerance(cfgs[2])


def test_only_compatible_configs_form_a_population():
    a, b = tiny(**RECIPE), tiny(**RECIPE, seed=3, lr_d=1e-3, d_steps=5)
    assert population_key(a) == population_key(b) is not None
    assert population_key(tiny(**RECIPE, g_width=32)) != population_key(a)
    # Feature matching off (and so the recipe's interval features back in D's decision, where they act without it).
    assert population_key(tiny(**{**RECIPE, "fm_weight": 0.0, "d_extra_route": "decision"})) != population_key(a)
    assert population_key(tiny(loss="wgan-gp")) is None
    assert population_key(tiny(method="vae", seed=1, kl_weight=0.1)) == population_key(tiny(method="vae"))
    assert population_key(tiny(method="vae")) != population_key(tiny(method="imle"))
    with pytest.raises(UserError, match="share everything but"):
        Population([a, tiny(**RECIPE, g_width=32)], load_dataset(a.data_config()))
