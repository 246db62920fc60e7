"""One self-contained HTML report of a study: collapse maps, sensitivity, baselines, best samples.

    python analysis/report.py RESULTS_DIR [--baselines DIR] [--metric healthy_coverage] [--out report.html]

The work is mgen/analysis/report.py (a library: it takes loaded results and returns frames and files).
"""
import sys

from mgen.analysis.report import main

if __name__ == "__main__":
    sys.exit(main())
