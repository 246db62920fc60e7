"""Study-level parameters expand into trial-config fields (mgen.train.params), checked without Ray."""
from mgen.study import Choice
from mgen.study.space import validate_space
from mgen.train.params import expand
from mgen.train.config import REFERENCE_RECIPE, TrialConfig


def test_d_norm_none_drops_the_fixed_spectral_scale_and_warm_up_so_a_space_can_cross_the_recipe_with_none():
    fixed = {k: REFERENCE_RECIPE[k] for k in ("d_norm", "d_norm_scale", "d_norm_warmup")}
    assert fixed == {"d_norm": "spectral", "d_norm_scale": 1.75, "d_norm_warmup": 1000}
    assert expand(fixed) == fixed
    assert expand({**fixed, "d_norm": "none", "dg_ratio": "1:5"}) == {"d_norm": "none", "d_steps": 1, "g_steps": 5}
    validate_space({"d_norm": Choice(("spectral", "none"))}, fixed)  # both cells are valid trials
    none = TrialConfig.from_params({**fixed, "d_norm": "none"})
    assert (none.d_norm_scale, none.d_norm_warmup) == (1.0, 0)


def test_a_reference_variant_keeps_the_trials_footing_and_leaves_the_rest_to_its_recipe():
    from mgen.train.config import FOOTING, VAE_RECIPE

    params = {"variant": "vae/reference", "dg_ratio": None, "lr_g": 5e-3, "lr_d": 1e-3, "loss": "hinge",
              "conditioning": "chord/1d", "data": "motifs", "g_width": 32, "steps": 100, "seed": 3}
    flat = expand(params)
    assert flat == {"data": "motifs", "g_width": 32, "steps": 100, "seed": 3, "cond": "chord", "inject": "1d",
                    "method": "vae"}
    assert set(flat) - {"method"} <= set(FOOTING)
    cfg = TrialConfig.from_dict(flat)
    assert {k: getattr(cfg, k) for k in VAE_RECIPE} == VAE_RECIPE  # the study's lr_g is the GAN's, not the VAE's
    # A parameter given as None is left to the recipe, in any trial.
    assert TrialConfig.from_params({"variant": "imle", "lr_g": None, "data": "bach"}).lr_g == 1e-3
