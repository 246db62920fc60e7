"""GAN vs VAE vs IMLE on every metric, on equal footing: mean +- 95% CI over seeds, with a test.

    python analysis/baselines.py RESULTS_DIR [--baselines DIR] [--metric healthy_coverage] [--out DIR]

The work is mgen/analysis/baselines.py (a library: it takes loaded results and returns frames and files).
"""
import sys

from mgen.analysis.baselines import main

if __name__ == "__main__":
    sys.exit(main())
