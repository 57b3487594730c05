"""Values as text: the one formatter every report uses (HTML, Markdown, terminal).

`compact` gives one short line for any JSON value (long lists shortened, with their
count; runs of integers as ranges); `num` a number as it reads best; `units` the
unit suffixes of a check's values; `band_text` the band a check was judged against.
"""

from __future__ import annotations

import math
from typing import Any


def num(v: float | int) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if not math.isfinite(v):
        return str(v)
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    if abs(v) >= 0.001:
        return f"{v:.3f}".rstrip("0").rstrip(".")
    return f"{v:.3g}"


def is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def number_list(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(is_number(x) for x in v)


def units(c: dict) -> tuple[str, str]:
    """The unit suffix of a check's documented and observed values (" ms"), where
    they are numbers; "" otherwise."""
    unit = f" {c['unit']}" if c["unit"] else ""
    documented = unit if is_number(c["documented"]) else ""
    observed = unit if is_number(c["observed"]) or number_list(c["observed"]) else ""
    return documented, observed


def int_ranges(seq: list[int]) -> list[str]:
    """[1, 2, 3, 7, 9, 10, 11, 12] -> ['1–3', '7', '9–12'] (runs of 3 or more)."""
    out: list[str] = []
    i = 0
    while i < len(seq):
        j = i
        while j + 1 < len(seq) and seq[j + 1] == seq[j] + 1:
            j += 1
        if j - i >= 2:
            out.append(f"{seq[i]}–{seq[j]}")
        else:
            out.extend(str(x) for x in seq[i : j + 1])
        i = j + 1
    return out


def compact(v: Any, items: int = 8, width: int = 240) -> str:
    """One short line for any JSON value: long lists shortened, with their count."""
    s = _compact(v, items)
    return s if len(s) <= width else s[: width - 1] + "…"


def _compact(v: Any, items: int) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool | int | float):
        return num(v)
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        if not v:
            return "[]"
        if all(isinstance(x, int) and not isinstance(x, bool) for x in v) and len(v) > 3:
            parts = int_ranges(v)
            if len(parts) < len(v):
                shown = parts[:items]
                more = f", … ({len(v)} in all)" if len(parts) > items else ""
                return f"[{', '.join(shown)}{more}]"
        shown = [_compact(x, max(2, items // 2)) for x in v[:items]]
        more = f", … ({len(v)} in all)" if len(v) > items else ""
        return f"[{', '.join(shown)}{more}]"
    if isinstance(v, dict):
        if not v:
            return "{}"
        shown = [f"{k}: {_compact(x, max(2, items // 2))}" for k, x in list(v.items())[:items]]
        more = f", … ({len(v)} keys)" if len(v) > items else ""
        return "{" + ", ".join(shown) + more + "}"
    return str(v)


def band_text(band: dict, unit: str | None = None) -> str:
    """The stored band of a check, as judged: "[2000, 2100] ms, judged [1978, 2124.1]"
    (the judged edges only when the slack widened them)."""
    lo, hi = band["documented"]
    u = f" {unit}" if unit else ""
    out = f"[{num(lo)}, {num(hi)}]{u}"
    if (band["lo"], band["hi"]) != (lo, hi):
        out += f", judged [{num(band['lo'])}, {num(band['hi'])}]"
    return out
