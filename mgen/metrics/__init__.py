"""Metrics of mode collapse, diversity and musical quality; `evaluate` returns them all as one flat dict.

Each name's range, direction and the space it is computed in are declared once in
mgen/metrics/registry.py (and listed in docs/metrics.md's table).
"""

from mgen._lazy import lazy_exports
from mgen.metrics.registry import METRICS, direction, worst_value

__getattr__, __dir__ = lazy_exports(__name__, {"evaluate": "mgen.metrics.suite", "Reference": "mgen.metrics.suite",
                                               "prdc_with_misses": "mgen.metrics.suite",
                                               "decode_bars": "mgen.metrics.decoding",
                                               "health_status": "mgen.metrics.registry"})
__all__ = ["METRICS", "Reference", "decode_bars", "direction", "evaluate", "health_status", "worst_value"]
