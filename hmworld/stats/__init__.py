"""The dataset card (`hmworld stats split=DIR`): distributions of a split's camera, subject and event
properties, a summary, `stats.json`, a self-contained HTML page, and the comparison with a reference profile.

Pure computation (`figures`, `collect`, `profile`) is separate from drawing (`page`); `card.build_card` runs
them in order.
"""
from hmworld.stats.card import CardReport, build_card
from hmworld.stats.collect import StatsError
from hmworld.stats.figures import FIGURES
from hmworld.stats.profile import load_profile

__all__ = ["CardReport", "FIGURES", "StatsError", "build_card", "load_profile"]
