"""The models' option names (no torch import: configs and flags are checked with these before training)."""
CONDITIONS = ("none", "prev", "chord", "prev+chord")
INJECTIONS = ("1d", "2d")
OUTPUTS = ("sigmoid", "softmax", "onehot")
D_NORMS = ("none", "spectral")
EXTRA_ROUTES = ("decision", "matching")  # where D's interval and pair features go (mgen/models/midinet.py)
METHODS = ("gan", "vae", "imle")
