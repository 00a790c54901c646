"""Errors of the benchmark; the CLI prints them without a traceback (they are HMWorldErrors)."""
from hmworld.errors import HMWorldError


class BenchmarkError(HMWorldError):
    """A scoring, merge or leaderboard request cannot be carried out; the message names every fault."""


def open_complete_split(path):
    """The split at `path`, which must be complete (it has a fingerprint); BenchmarkError otherwise."""
    from hmworld.errors import SplitError
    from hmworld.split import Split

    try:
        split = Split(path)
    except SplitError as exc:
        raise BenchmarkError(str(exc)) from exc
    if not split.complete or not split.fingerprint:
        raise BenchmarkError(f"split={path}: not complete (status {split.info.get('status')!r}); "
                             "finish rendering it first")
    return split
