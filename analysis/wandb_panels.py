"""W&B-style line panels drawn from a study's offline W&B runs, for a look without a W&B server.

    python analysis/wandb_panels.py RESULTS_DIR [--keys quality/healthy_coverage,train/loss_d] [--out DIR]

The work is mgen/analysis/wandb_panels.py (a library: it takes loaded results and returns frames and files).
"""
import sys

from mgen.analysis.wandb_panels import main

if __name__ == "__main__":
    sys.exit(main())
