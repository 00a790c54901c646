"""hmworld.benchmark: submissions, validation, resumable scoring, merging and the leaderboard.

    from hmworld.benchmark import score_submission, merge_stores, build_leaderboard, predict_baseline

See benchmark/README.md. Heavy libraries load only when a metric needs them: psnr/ssim scoring runs on the
base installation.
"""
from typing import TYPE_CHECKING

from hmworld.lazy import lazy_exports

# Written once here for editors and type checkers; at run time each name is imported on first use.
if TYPE_CHECKING:
    from .errors import BenchmarkError
    from .submission import (SCHEMA, SUBMISSION_FORMAT_VERSION, SUBMISSION_YAML, SubmissionError, SubmissionInfo,
                             read_submission_info, video_name, write_submission_info)
    from .archive import ArchiveLimits, open_submission, unpack_archive
    from .validate import Problem, ValidationReport, validate_submission
    from .store import ResultsStore
    from .scoring import METRIC_GROUPS, ScoreReport, convention_key, plan_metrics, score_submission
    from .merge import MergeReport, merge_stores
    from .leaderboard import CSV_COLUMNS, build_groups, build_leaderboard, summarize_submission
    from .reported import REPORTED
    from .baselines import PREDICTORS, predict_baseline

__getattr__, __dir__, __all__ = lazy_exports(globals())
