"""mgen: large-scale hyperparameter studies of music generators (GANs, VAE, IMLE)."""

__version__ = "0.1.0"
