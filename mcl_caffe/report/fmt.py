"""Markdown formatting helpers of the report: numbers, percentages, durations, tables, index ranges."""
from __future__ import annotations

def _f(x, nd=2):
    return "—" if x is None else ("%.*f" % (nd, x))


def _pct(x, nd=2):
    return "—" if x is None else ("%.*f" % (nd, 100 * x))


def heading(title: str) -> list[str]:
    """A second-level section heading with a blank line on each side."""
    return ["", "## " + title, ""]


def _table(header: list[str], rows: list[list[str]], align: list[str] | None = None) -> str:
    align = align or ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _hms(seconds) -> str:
    if seconds is None:
        return "—"
    s = int(round(seconds))
    return (
        "%d:%02d:%02d" % (s // 3600, (s % 3600) // 60, s % 60) if s >= 3600 else "%d:%02d" % (s // 60, s % 60)
    )


def _signed(x, nd=2):
    return "%+.*f" % (nd, 100.0 * x)


def _ranges(idx) -> str:
    """0-based indices -> '1-6, 9' (1-based ranges)."""
    v = sorted(int(i) + 1 for i in idx)
    out, start, prev = [], None, None
    for x in v:
        if start is None:
            start = prev = x
        elif x == prev + 1:
            prev = x
        else:
            out.append(str(start) if start == prev else "%d-%d" % (start, prev))
            start = prev = x
    if start is not None:
        out.append(str(start) if start == prev else "%d-%d" % (start, prev))
    return ", ".join(out)
