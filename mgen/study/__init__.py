"""The study layer, the only Ray code in mgen: search spaces, the trainable, stoppers, W&B, resume."""
from mgen.study.plan import StudySpec
from mgen.study.run import main, run_study
from mgen.study.summary import group_table
from mgen.study.space import (
    CONDITIONINGS,
    DG_RATIOS,
    MUSIC_BUDGET_OVERRIDES,
    Budget,
    Choice,
    LogUniform,
)

__all__ = ["CONDITIONINGS", "DG_RATIOS", "MUSIC_BUDGET_OVERRIDES", "group_table", "Budget", "Choice", "LogUniform", "StudySpec", "main", "run_study"]
