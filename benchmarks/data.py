"""First build vs cached load of the bundled corpora (bach, celtic), measured side by side in one run.

Run: python benchmarks/data.py [--data bach,celtic]
Each first build runs in a fresh, empty cache folder (parsing music21's corpus with a process per
core, as `mgen data build` does); the load reads the .npz that build wrote. Your own cache is not used.
"""
import argparse
import os
import tempfile
import time

from mgen.data import DataConfig, load_dataset

parser = argparse.ArgumentParser()
parser.add_argument("--data", default="bach,celtic")
args = parser.parse_args()
print(f"{'data':8} {'bars':>7} {'first build':>12} {'cached load':>12} {'ratio':>7}   ({os.cpu_count()} cores)")
for name in args.data.split(","):
    with tempfile.TemporaryDirectory() as cache:
        os.environ["MGEN_CACHE"] = cache
        start = time.perf_counter()
        built = load_dataset(DataConfig(name))
        build = time.perf_counter() - start
        start = time.perf_counter()
        loaded = load_dataset(DataConfig(name))
        load = time.perf_counter() - start
        assert (loaded.x == built.x).all() and len(loaded.x) == len(built.x)
    print(f"{name:8} {len(built.x):7d} {build:11.1f}s {load:11.2f}s {build / load:6.0f}x")
