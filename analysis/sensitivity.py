"""Which hyperparameters matter: fANOVA importance, marginal effects, and the expected best metric vs trials run.

    python analysis/sensitivity.py RESULTS_DIR [--metric healthy_coverage] [--baselines DIR] [--out DIR]

The work is mgen/analysis/sensitivity.py (a library: it takes loaded results and returns frames and files).
"""
import sys

from mgen.analysis.sensitivity import main

if __name__ == "__main__":
    sys.exit(main())
