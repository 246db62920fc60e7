"""Collapse maps: a collapse metric over D/G ratio x lr_d/lr_g, one panel per conditioning, and trajectories.

    python analysis/collapse_map.py RESULTS_DIR [--out DIR] [--metrics coverage,diversity,collapsed,failed]

The work is mgen/analysis/collapse_map.py (a library: it takes loaded results and returns frames and files).
"""
import sys

from mgen.analysis.collapse_map import main

if __name__ == "__main__":
    sys.exit(main())
