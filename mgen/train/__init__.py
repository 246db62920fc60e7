"""Training: the trial config, one loop per method (GAN, VAE, IMLE), reports and checkpoints.

`TrialConfig` loads without torch; the training loop imports it on first use.
"""
from mgen._lazy import lazy_exports
from mgen.train.config import TrialConfig

__getattr__, __dir__ = lazy_exports(__name__, {name: "mgen.train.trial" for name in
                                               ("Report", "load_checkpoint", "save_checkpoint", "train")})
__all__ = ["Report", "TrialConfig", "load_checkpoint", "save_checkpoint", "train"]
