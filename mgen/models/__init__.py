"""Model families by name: MidiNet-style conv nets for bars, MLPs for 2D points, and the VAE.

The option names load without torch; `build_models` imports the networks on first use.
"""
from mgen._lazy import lazy_exports
from mgen.models.names import CONDITIONS, D_NORMS, EXTRA_ROUTES, INJECTIONS, METHODS, OUTPUTS

__getattr__, __dir__ = lazy_exports(__name__, {"build_models": "mgen.models.build"})
__all__ = ["CONDITIONS", "D_NORMS", "EXTRA_ROUTES", "INJECTIONS", "METHODS", "OUTPUTS", "build_models"]
