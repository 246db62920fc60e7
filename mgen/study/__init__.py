"""The study layer, the only Ray code in mgen: search spaces, the trainable, stoppers, W&B, resume."""
from mgen.study.plan import StudySpec
from mgen.study.run import tune_study
from mgen.study.summary import group_table
from mgen.study.space import MUSIC_BUDGET_OVERRIDES, Budget, Choice, LogUniform
from mgen.train.params import CONDITIONINGS, DG_RATIOS

__all__ = ["CONDITIONINGS", "DG_RATIOS", "MUSIC_BUDGET_OVERRIDES", "group_table", "Budget", "Choice", "LogUniform", "StudySpec", "tune_study"]
