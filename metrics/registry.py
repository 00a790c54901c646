"""The metrics' facts, in one place: every value column (name, label, direction, unit, digits, where it is shown)
and every metric group (the scorer's metric: its columns, the packages and weights it needs, what it applies to).

The scorer (`ALL_METRICS`, `VALUE_KEYS`), the scoring run (`METRIC_GROUPS`, packages, learned metrics, detail
prefixes), the store's documentation, the leaderboard (columns, ranking direction, labels) and the page all derive
their lists from `GROUPS` and `COLUMNS` below; adding a metric is adding it here (and its computation in
scorer.py). Order is the paper's column order, then ours.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Column:
    """One value a metric group stores per clip (`scores.metric` in the store, a column of the leaderboard)."""

    key: str
    group: str
    label: str
    higher_is_better: bool = True
    unit: str = ""                 # "dB" or "" (a score in [0, 1])
    digits: int = 3                # digits shown on the page and in Markdown
    paper: bool = False            # a column of the paper's tables (reported numbers exist for it)
    board: bool = True             # a column of the main table (False: CSV, Markdown and the drill-down only)
    trailing: bool = False         # shown after `clips` (a diagnostic such as DSC's miss rate)
    frame_weighted: bool = False   # split figure = sum of terms / number of terms (VBench), not mean over videos


@dataclass(frozen=True)
class MetricGroup:
    """A metric the scorer computes in one go (`metrics=[...]`), contributing `columns` to each clip."""

    name: str
    packages: tuple[str, ...] = ()         # Python packages beyond the base installation
    weights: bool = False                  # needs learned weights files (hmworld.metrics.weights)
    applies_to: str = "every clip"         # what a clip needs for the metric to apply
    needs_masks: bool = False              # applies only to clips with ground-truth instance masks

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c.key for c in COLUMNS if c.group == self.name)

    @property
    def detail_prefix(self) -> str:
        return f"{self.name}_"


GROUPS: tuple[MetricGroup, ...] = (
    MetricGroup("psnr"),
    MetricGroup("ssim", packages=("torch",)),
    MetricGroup("lpips", packages=("torch", "torchvision", "lpips"), weights=True),
    MetricGroup("dsc", packages=("torch", "open_clip", "ultralytics"), weights=True,
                applies_to="clips with an exit-entry event"),
    MetricGroup("subject_consistency", packages=("torch", "timm"), weights=True),
    MetricGroup("background_consistency", packages=("torch", "open_clip"), weights=True),
    MetricGroup("masked", packages=("torch",), applies_to="clips with ground-truth instance masks and an exit-entry "
                "event", needs_masks=True),
)

COLUMNS: tuple[Column, ...] = (
    Column("psnr", "psnr", "PSNR", unit="dB", digits=2, paper=True),
    Column("ssim", "ssim", "SSIM", paper=True),
    Column("lpips", "lpips", "LPIPS", higher_is_better=False, paper=True),
    Column("dsc_ctx", "dsc", "DSC_ctx", paper=True),
    Column("dsc_gt", "dsc", "DSC_GT", paper=True),
    Column("subject_consistency", "subject_consistency", "Subject Cons.", paper=True, frame_weighted=True),
    Column("background_consistency", "background_consistency", "Background Cons.", paper=True, frame_weighted=True),
    # Masked re-entry metrics (metrics/masked.py): re-entry frames only, regions from the ground truth's masks.
    Column("subject_psnr", "masked", "Subject PSNR", unit="dB", digits=2),
    Column("subject_ssim", "masked", "Subject SSIM"),
    Column("background_psnr", "masked", "BG PSNR", unit="dB", digits=2),
    Column("background_ssim", "masked", "BG SSIM"),
    Column("box_psnr", "masked", "Box PSNR", unit="dB", digits=2, board=False),
    Column("box_ssim", "masked", "Box SSIM", board=False),
    Column("reentry_psnr", "masked", "Re-entry PSNR", unit="dB", digits=2, board=False),
    Column("reentry_ssim", "masked", "Re-entry SSIM", board=False),
    Column("dsc_miss_rate", "dsc", "DSC miss rate", higher_is_better=False, trailing=True),
)

GROUP = {g.name: g for g in GROUPS}
COLUMN = {c.key: c for c in COLUMNS}

# Per-event values of the masked group (store table `events`, the metric-vs-hidden-gap plot): the masked column
# keys, each the mean over the event's re-entry frames.
EVENT_METRICS = tuple(c.key for c in COLUMNS if c.group == "masked")
# masked.py's region names -> our column prefixes ("frame" is the whole frame on the re-entry frames).
MASKED_REGIONS = {"subject": "subject", "box": "box", "background": "background", "frame": "reentry"}


def group_names() -> tuple[str, ...]:
    return tuple(g.name for g in GROUPS)


def value_keys() -> dict[str, tuple[str, ...]]:
    """metric group -> the value keys it contributes to a clip's scores."""
    return {g.name: g.columns for g in GROUPS}


def columns(*, paper: Optional[bool] = None, board: Optional[bool] = None,
            trailing: Optional[bool] = None) -> tuple[str, ...]:
    """Column keys in display order, filtered by the given flags."""
    out = []
    for c in COLUMNS:
        if (paper is not None and c.paper != paper) or (board is not None and c.board != board) or (
                trailing is not None and c.trailing != trailing):
            continue
        out.append(c.key)
    return tuple(out)


def lower_is_better() -> frozenset[str]:
    return frozenset(c.key for c in COLUMNS if not c.higher_is_better)


def _check() -> None:
    keys = [c.key for c in COLUMNS]
    assert len(keys) == len(set(keys)), "duplicate metric column"
    assert all(c.group in GROUP for c in COLUMNS), "a column names an unknown metric group"
    assert all(g.columns for g in GROUPS), "a metric group without columns"


_check()
