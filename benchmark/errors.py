"""Errors of the benchmark; the CLI prints them without a traceback (they are HMWorldErrors)."""
from hmworld.errors import HMWorldError


class BenchmarkError(HMWorldError):
    """A scoring, merge or leaderboard request cannot be carried out; the message names every fault."""
