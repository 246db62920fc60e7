"""Training: the trial config, one loop per method (GAN, VAE, IMLE), reports and checkpoints."""
from mgen.train.config import TrialConfig
from mgen.train.trial import Report, load_checkpoint, save_checkpoint, train

__all__ = ["Report", "TrialConfig", "load_checkpoint", "save_checkpoint", "train"]
