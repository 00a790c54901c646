"""Untrusted text on its way out: to the terminal, into CSV, Markdown and file names.

Everything a submission (or a results store, or a split) says is written by a stranger. Model names,
descriptions, URLs, clip ids and problem messages that quote them pass through one of these before they are
shown or written:

    plain(s)        control characters (C0, C1, DEL), terminal escape sequences and bidirectional overrides
                    removed; line breaks of every kind (\\n, \\r, U+2028 ...) and tabs become spaces; optionally
                    cut to a length
    terminal(s)     plain + rich markup escaped (for console.print, table cells, titles)
    csv_cell(s)     plain + a leading = + - @ (spreadsheet formula) neutralised with a quote
    md_cell(s)      plain + every Markdown/HTML-active ASCII character backslash-escaped (CommonMark allows
                    escaping any ASCII punctuation), so no HTML, link, image, autolink or table cell break forms
    name_part(s)    a file-name component: a safe, non-empty [A-Za-z0-9._-] word that is not `.`/`..`,
                    else None (callers refuse the value)
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

# CSI / OSC / DCS / single-character escape sequences (ECMA-48), both 7-bit and 8-bit introducers.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"                     # CSI ... final
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC ... BEL/ST
    r"|(?:\x1bP|\x90|\x1bX|\x98|\x1b\^|\x9e|\x1b_|\x9f)[^\x1b\x9c]*(?:\x1b\\|\x9c)?"   # DCS/SOS/PM/APC ... ST
    r"|\x1b[ -/]*[0-~]")                                     # other ESC sequences
_BREAKS = re.compile(r"[\t\n\v\f\r\x85\u2028\u2029]")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_MD_ACTIVE = re.compile(r"([\\`*_{}\[\]()<>#!|&~:\"'=$^])")
_FORMULA = ("=", "+", "-", "@", "\t", "\r", "|", "%")
_NAME_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")   # + "_00000.jpg" stays under 255 bytes


def has_controls(text: str, allow_newlines: bool = False) -> bool:
    """Whether `text` holds a control character, escape or bidirectional override (newlines/tabs excepted
    when allow_newlines)."""
    probe = text.replace("\n", "").replace("\t", "") if allow_newlines else text
    return bool(_CONTROLS.search(probe) or _BREAKS.search(probe))


def plain(text, limit: Optional[int] = None) -> str:
    s = _ESCAPES.sub("", str(text))
    s = _BREAKS.sub(" ", s)
    s = _CONTROLS.sub("", s)
    if limit is not None and len(s) > limit:
        s = s[: max(0, limit - 1)] + "…"
    return s


def terminal(text, limit: Optional[int] = None) -> str:
    from rich.markup import escape

    return escape(plain(text, limit))


def csv_cell(text) -> str:
    s = plain(text)
    return "'" + s if s.startswith(_FORMULA) else s


def md_cell(text) -> str:
    return _MD_ACTIVE.sub(r"\\\1", plain(text))


def name_part(text) -> Optional[str]:
    """`text` if it is safe as one file-name component, else None."""
    s = str(text)
    if _NAME_PART.fullmatch(s) and s not in (".", "..") and ".." not in s:
        return s
    return None


def contained(root: Path, path: Path) -> bool:
    """Whether `path` stays inside `root` (lexically and after resolving links of what exists)."""
    try:
        base = root.resolve()
        real = path.resolve()
    except (OSError, RuntimeError):
        return False
    return real == base or base in real.parents


__all__ = ["plain", "terminal", "csv_cell", "md_cell", "name_part", "contained", "has_controls"]
