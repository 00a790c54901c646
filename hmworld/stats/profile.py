"""Reference profiles: the expected range of summary figures, and the comparison of a split with one.

A profile is a YAML file (the shipped one, `hmworld/profiles/hmworld_examples.yaml`, documents the format at
its top):

    name: hmworld-examples
    source: "where the numbers come from"
    context_frames: 77      # frame-valued figures (exit/entry frame, hidden gap) are scaled by split C / this
    target_frames: 77
    figures:
      camera_speed_context: {stat: median, range: [0.06, 0.12], unit: m/frame, note: "..."}

Every figure must be one of the card's figures (`hmworld.stats.figures.FIGURES`); `stat` must suit it
(median | mean | min | max for numbers, fraction | count for true/false figures); `range` is [lo, hi] with
lo <= hi, inclusive. A figure the split cannot measure (e.g. box heights on an imported split) is n/a, not a
failure.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from hmworld.stats import figures as F
from hmworld.stats.collect import CardData, StatsError

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "profiles"
FIGURE_KEYS = {"stat", "range", "unit", "note"}
TOP_KEYS = {"name", "source", "context_frames", "target_frames", "figures"}
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Expectation:
    figure: str
    stat: str
    lo: float
    hi: float
    unit: str
    note: str


@dataclass(frozen=True)
class Profile:
    name: str
    source: str
    path: Path
    context_frames: int
    target_frames: int
    figures: tuple[Expectation, ...]


@dataclass(frozen=True)
class Check:
    figure: str
    stat: str
    value: float | None
    lo: float
    hi: float
    scale: float
    unit: str
    note: str

    @property
    def status(self) -> str:
        if self.value is None:
            return "n/a"
        tol = TOLERANCE * max(1.0, abs(self.lo), abs(self.hi))
        return "OK" if self.lo - tol <= self.value <= self.hi + tol else "OUTSIDE"

    def to_json(self) -> dict:
        return {"figure": self.figure, "stat": self.stat, "value": self.value, "range": [self.lo, self.hi],
                "scale": self.scale, "unit": self.unit, "status": self.status, "note": self.note}


def shipped_profiles() -> list[str]:
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml"))


def resolve_profile(reference: str) -> Path:
    """A path to a profile file, or the name of a shipped profile (`hmworld_examples`)."""
    p = Path(reference).expanduser()
    if p.is_file():
        return p
    shipped = SHIPPED_DIR / f"{str(reference).replace('-', '_')}.yaml"
    if "/" not in str(reference) and shipped.is_file():
        return shipped
    if p.exists():
        raise StatsError(f"reference={reference}: not a file")
    raise StatsError(f"reference={reference}: no such file (shipped profiles: {', '.join(shipped_profiles())})")


def load_profile(reference: str) -> Profile:
    path = resolve_profile(reference)
    where = f"reference={path}"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise StatsError(f"{where}: not valid YAML ({' '.join(str(exc).split())})") from None
    except OSError as exc:
        raise StatsError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    if not isinstance(data, dict):
        raise StatsError(f"{where}: expected a mapping with {', '.join(sorted(TOP_KEYS))}")
    unknown = sorted(str(k) for k in data if k not in TOP_KEYS)
    if unknown:
        raise StatsError(f"{where}: unknown field {unknown[0]!r} (expected {', '.join(sorted(TOP_KEYS))})")
    for key in ("name", "context_frames", "target_frames", "figures"):
        if key not in data:
            raise StatsError(f"{where}: field {key} is missing")
    if not isinstance(data["name"], str) or not data["name"].strip():
        raise StatsError(f"{where}: field name must be text")
    source = data.get("source", "")
    if not isinstance(source, str):
        raise StatsError(f"{where}: field source must be text")
    for key in ("context_frames", "target_frames"):
        v = data[key]
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise StatsError(f"{where}: field {key} must be a positive integer, got {v!r}")
    figs = data["figures"]
    if not isinstance(figs, dict) or not figs:
        raise StatsError(f"{where}: field figures must be a non-empty mapping of figure name -> {{stat, range}}")
    out = []
    for name, spec in figs.items():
        field = f"figures.{name}"
        if name not in F.FIGURES:
            raise StatsError(f"{where}: field {field}: unknown figure (known: {', '.join(F.FIGURES)})")
        if not isinstance(spec, dict):
            raise StatsError(f"{where}: field {field} must be a mapping with stat and range")
        unknown = sorted(str(k) for k in spec if k not in FIGURE_KEYS)
        if unknown:
            raise StatsError(f"{where}: field {field}.{unknown[0]}: unknown key (expected stat, range, unit, note)")
        for key in ("stat", "range"):
            if key not in spec:
                raise StatsError(f"{where}: field {field}.{key} is missing")
        allowed = F.stats_for(F.FIGURES[name])
        if spec["stat"] not in allowed:
            raise StatsError(f"{where}: field {field}.stat: {spec['stat']!r} is not one of {', '.join(allowed)} "
                             f"(the statistics of a {F.FIGURES[name].kind} figure)")
        rng = spec["range"]
        if (not isinstance(rng, list) or len(rng) != 2
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in rng)
                or rng[0] > rng[1]):
            raise StatsError(f"{where}: field {field}.range must be [lo, hi], two numbers with lo <= hi, got {rng!r}")
        for key in ("unit", "note"):
            if key in spec and not isinstance(spec[key], str):
                raise StatsError(f"{where}: field {field}.{key} must be text")
        out.append(Expectation(name, spec["stat"], float(rng[0]), float(rng[1]),
                               spec.get("unit", F.FIGURES[name].unit), spec.get("note", "")))
    return Profile(data["name"], source, path, data["context_frames"], data["target_frames"], tuple(out))


def compare(card: CardData, profile: Profile) -> list[Check]:
    """Each reference figure: the split's value of its statistic against the (frame-scaled) range."""
    checks = []
    for e in profile.figures:
        scale = 1.0
        # Only frame indices and frame counts scale with the context length; per-frame rates do not.
        if F.FIGURES[e.figure].unit == "frame" and card.context_frames:
            scale = card.context_frames / profile.context_frames
        value = F.summarise(card.values(e.figure), e.stat)
        checks.append(Check(e.figure, e.stat, value, e.lo * scale, e.hi * scale, scale, e.unit, e.note))
    return checks
