"""Samples of the best trial: its best checkpoint as MIDI, piano-roll PNGs and WAV.

    python analysis/best_samples.py RESULTS_DIR [--metric healthy_coverage] [--trial ID] [--n 16] [--out DIR]

The work is mgen/analysis/best_samples.py (a library: it takes loaded results and returns frames and files).
"""
import sys

from mgen.analysis.best_samples import main

if __name__ == "__main__":
    sys.exit(main())
