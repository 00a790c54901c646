"""Benchmark: submissions, validation, scoring, leaderboard (imported as hmworld.benchmark)."""
