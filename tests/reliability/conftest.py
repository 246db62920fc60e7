"""The study tests' fixtures: a results folder, and a private RAY_TMPDIR whose Ray processes are stopped."""
from tests.study.conftest import ray_tmpdir, results_dir  # noqa: F401
