"""The models' option names (no torch import: configs and flags are checked with these before training)."""
CONDITIONS = ("none", "prev", "chord", "prev+chord")
INJECTIONS = ("1d", "2d")
OUTPUTS = ("sigmoid", "softmax", "onehot")
D_NORMS = ("none", "spectral")
METHODS = ("gan", "vae", "imle")
