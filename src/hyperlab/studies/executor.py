"""Compatibility: the executors live in :mod:`hyperlab.studies.executors` (local,
processes, ray); ``run_study`` and ``run_studies`` are importable from here as before."""
from hyperlab.studies.executors import (CohortsFailed, ExecutorError, assemble, build_cohort,
                                        make_executor, restore, run_studies, run_study,
                                        snapshot, versions)

__all__ = ["CohortsFailed", "ExecutorError", "assemble", "build_cohort", "make_executor",
           "restore", "run_studies", "run_study", "snapshot", "versions"]
