"""`hmworld stats`: read a split, compute its figures, compare with a reference profile, write the card.

    report = build_card("data/train", out="stats-train", reference="hmworld_examples")
    report.doc["figures"]["exit_frame"]["median"], [c.status for c in report.checks]

Writes `<out>/stats.json` (every figure's summary, the reference comparison, per-clip / per-event /
per-subject values) and `<out>/stats.html` (self-contained). Never writes into the split folder.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hmworld.fsutil import atomic_write_json, atomic_write_text
from hmworld.progress import SILENT, Progress
from hmworld.stats import figures as F
from hmworld.stats.collect import CardData, StatsError, collect
from hmworld.stats.profile import Check, Profile, compare, load_profile

CARD_VERSION = 1


@dataclass
class CardReport:
    out: Path
    doc: dict
    card: CardData
    checks: list[Check] = field(default_factory=list)
    profile: Profile | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def outside(self) -> list[Check]:
        return [c for c in self.checks if c.status == "OUTSIDE"]

    @property
    def files(self) -> list[Path]:
        return [self.out / "stats.json", self.out / "stats.html"]


def default_out(split: str | Path) -> Path:
    """`./stats-<split folder name>` in the working folder (never inside the split)."""
    return Path(f"stats-{Path(split).resolve().name}")


def check_out(out: Path, split: Path) -> None:
    if out.exists() and not out.is_dir():
        raise StatsError(f"out={out} exists and is not a folder")
    try:
        inside = out.resolve().is_relative_to(split.resolve())
    except OSError:
        inside = False
    if inside:
        raise StatsError(f"out={out} is inside the split folder {split}; the card is written elsewhere "
                         "(a split holds only its own files)")


def figure_summary(card: CardData) -> dict:
    out = {}
    for name, f in F.FIGURES.items():
        values = card.values(name)
        known = [v for v in values if v is not None]
        entry = {"per": f.per, "kind": f.kind, "unit": f.unit, "stat": f.stat, "value": F.summarise(known, f.stat),
                 "n": len(known), "n_missing": len(values) - len(known), "definition": f.text}
        if f.kind == "number":
            entry |= {s: F.summarise(known, s) for s in F.NUMBER_STATS}
        else:
            entry |= {"fraction": F.summarise(known, "fraction"), "count": int(sum(bool(v) for v in known))}
        out[name] = entry
    return out


def card_document(card: CardData, checks: list[Check], profile: Profile | None) -> dict:
    info = card.split.info
    rows = card.split.rows
    cs = sorted({int(r["context_frames"]) for r in rows if isinstance(r.get("context_frames"), (int, float))})
    ts = sorted({int(r["target_frames"]) for r in rows if isinstance(r.get("target_frames"), (int, float))})
    split = {
        "name": card.split.root.resolve().name, "path": str(card.split.root), "status": info.get("status"),
        "fingerprint": info.get("fingerprint"), "num_clips": info.get("num_clips"), "clips_in_card": len(rows),
        "context_frames": cs[0] if len(cs) == 1 else cs, "target_frames": ts[0] if len(ts) == 1 else ts,
    }
    reference = None
    if profile is not None:
        reference = {"name": profile.name, "source": profile.source, "file": str(profile.path),
                     "context_frames": profile.context_frames, "target_frames": profile.target_frames,
                     "checks": [c.to_json() for c in checks],
                     "outside": [c.figure for c in checks if c.status == "OUTSIDE"],
                     "not_available": [c.figure for c in checks if c.status == "n/a"]}
    return {"card_version": CARD_VERSION, "split": split, "warnings": list(card.split.warnings), "figures": figure_summary(card), "counts": card.counts,
            "reference": reference, "clips": card.clips, "events": card.events, "subjects": card.subjects}


def build_card(split: str | Path, out: str | Path | None = None, reference: str | None = None,
               progress: Progress = SILENT) -> CardReport:
    """Everything `hmworld stats` does; bad input raises StatsError before anything is written."""
    from hmworld.stats.page import html_page

    split = Path(split)
    profile = load_profile(str(reference)) if reference not in (None, "") else None
    out = Path(out) if out not in (None, "") else default_out(split)
    check_out(out, split)
    card = collect(split, progress)
    checks = compare(card, profile) if profile else []
    doc = card_document(card, checks, profile)
    page = html_page(card, doc, checks, profile)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "stats.json", doc)
    atomic_write_text(out / "stats.html", page)
    return CardReport(out, doc, card, checks, profile, list(card.split.warnings))
