"""Comparing two runs: what changed between two results.json files.

Two client versions, two machines, two days: `compare(a, b)` holds run `a` (before)
against run `b` (after) and returns plain, JSON-serialisable data:

- entries (scenario x client) found in only one run: added / removed;
- versions that changed: per client its library and client_version, per server
  its version, and the harness's own version;
- entries whose status changed (ok / error / interrupted), entries whose stored
  outcome changed (entry["outcome"]["result"], never worked out again here),
  verdicts that changed per (scenario, client, check id), checks that appeared or
  disappeared;
- timings that moved beyond noise, for timing checks and `*_ms` metrics;
- what makes the two runs unlike (user options, client or server versions,
  backends): `unlike`, said first by both renderings.

Noise. A timing is compared by its median. It moved when
|median_after - median_before| > noise, where noise is the measurement slack the
check was judged with, read from its stored band (the wider side of
band["slack_ms"], the wider of the two runs; never recomputed here) plus, when
both runs have at least 3 values, the larger of the two runs' half-ranges
(max - min) / 2: a move smaller than a run's own spread is not a move. A `*_ms`
metric, or a timing check without a band, has no slack of its own: it takes the
widest judged slack of its entry's timing checks (either run) or, when the entry
judged no band, of the two runs (docs/decisions.md, "Compare's noise").

`gates(c)` is what CI gates on (`harness compare` exits 1): a verdict, an outcome
or a status changed. `render_text` gives the account for a terminal or a CI log
(plain text, no control characters), `render_html` one self-contained page.
`load_pair` reads two results files (or run folders) with harness.results.load,
so a bad file is a one-line UsageError naming it.

Nothing here knows client, scenario or check names: everything is taken from
the two files.
"""

from __future__ import annotations

import copy
import html
import math
import statistics
import textwrap
import unicodedata
from pathlib import Path
from typing import Any

from harness import results
from harness.drivers import versions
from harness.judging.judge import ALL_VERDICTS
from harness.report.values import compact, num

# Both runs need this many values of a timing before their spread counts as noise.
SPREAD_MIN_VALUES = 3

NOISE_RULE = (
    "noise = the measurement slack the check was judged with (the wider side of its stored band's slack_ms, "
    "the wider of the two runs; for a *_ms metric or a timing check without a band, the widest judged slack "
    "of its entry, or else of the two runs), plus the larger half-range (max-min)/2 of the two runs' values "
    f"when both have {SPREAD_MIN_VALUES} or more"
)

# Shown for observed values in text: the first few items of a list, then "...".
TEXT_ITEMS = 6
TEXT_VALUE_CHARS = 100
HTML_ITEMS = 12
HTML_VALUE_CHARS = 400


# -- the comparison --


def _key(entry: dict) -> tuple[str, str]:
    return (entry["scenario"], entry["client"])


def _entries(run: dict) -> dict[tuple[str, str], dict]:
    """Entries by (scenario, client); should a run hold one twice, the first counts."""
    out: dict[tuple[str, str], dict] = {}
    for e in run.get("entries", []):
        out.setdefault(_key(e), e)
    return out


def _checks(entry: dict) -> dict[str, dict]:
    """Checks by id; a repeated id (none is expected) gets "#2", "#3", ..."""
    out: dict[str, dict] = {}
    for c in entry.get("checks") or []:
        name, n = c["id"], 2
        while name in out:
            name, n = f"{c['id']}#{n}", n + 1
        out[name] = c
    return out


def _run_info(run: dict) -> dict:
    r = run.get("run", {})
    host = r.get("host") or {}
    return {
        "id": r.get("id"),
        "started_at": r.get("started_at"),
        "harness_version": r.get("harness_version"),
        "backend": r.get("backend"),
        "host": {k: host.get(k) for k in ("machine", "system", "release", "python", "cpus") if k in host},
        "complete": run.get("complete"),
        "entries": len(run.get("entries", [])),
    }


def _versions(run: dict) -> tuple[dict[str, str], dict[str, str]]:
    """Per client "library client_version", per server its version (a run showing
    two for one name, which should not happen, gives both, joined by " / ")."""
    clients: dict[str, set[str]] = {}
    servers: dict[str, set[str]] = {}
    for e in run.get("entries", []):
        clients.setdefault(e["client"], set()).add(f"{e.get('library')} {e.get('client_version')}")
        for name, v in (e.get("server_versions") or {}).items():
            servers.setdefault(name, set()).add(str(v))
    return (
        {k: " / ".join(sorted(v)) for k, v in clients.items()},
        {k: " / ".join(sorted(v)) for k, v in servers.items()},
    )


def _version_changes(a: dict, b: dict) -> list[dict]:
    out = []
    ca, sa = _versions(a)
    cb, sb = _versions(b)
    for what, va, vb in (("client", ca, cb), ("server", sa, sb)):
        for name in sorted(va.keys() & vb.keys()):
            if va[name] != vb[name]:
                out.append({"what": what, "name": name, "before": va[name], "after": vb[name]})
    ha, hb = a.get("run", {}).get("harness_version"), b.get("run", {}).get("harness_version")
    if ha != hb:
        out.append({"what": "harness", "name": "harness", "before": ha, "after": hb})
    return out


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _sample(v: Any) -> dict | None:
    """Median, count and half-range of a timing: a number, a list of numbers, or a
    {n, min, median, max} summary. None for anything else."""
    if _is_num(v):
        return {"median": float(v), "n": 1, "half_range": 0.0}
    if isinstance(v, list) and v and all(_is_num(x) for x in v):
        return {"median": float(statistics.median(v)), "n": len(v), "half_range": (max(v) - min(v)) / 2}
    if isinstance(v, dict) and _is_num(v.get("median")):
        n = v.get("n")
        lo, hi = v.get("min"), v.get("max")
        return {
            "median": float(v["median"]),
            "n": int(n) if _is_num(n) else 1,
            "half_range": (hi - lo) / 2 if _is_num(lo) and _is_num(hi) else 0.0,
        }
    return None


def _is_timing_check(c: dict) -> bool:
    """A check whose unit is ms, or which has no unit but a band (a band in another
    unit, such as bytes, is not a timing and the measurement slack does not apply)."""
    return c.get("unit") == "ms" or (not c.get("unit") and c.get("band") is not None)


def _timing_metrics(metrics: dict) -> dict[str, dict]:
    """Metrics named *_ms: a number, a list, a summary, or one level of named ones
    of those (e.g. per_server_intervals_ms[n1-client])."""
    out: dict[str, dict] = {}
    for name, v in (metrics or {}).items():
        if not name.endswith("_ms"):
            continue
        s = _sample(v)
        if s is not None:
            out[name] = s
        elif isinstance(v, dict):
            for sub, sv in v.items():
                s = _sample(sv)
                if s is not None:
                    out[f"{name}[{sub}]"] = s
    return out


def _r(x: float) -> float:
    return round(x, 3) + 0.0  # + 0.0: no -0.0


def judged_slack(checks: list[dict]) -> float | None:
    """The widest measurement slack any of these timing checks was judged with, as
    stored in its band; None when none has a band."""
    slacks = [max(c["band"]["slack_ms"]) for c in checks if c.get("band") and _is_timing_check(c)]
    return max(slacks) if slacks else None


def noise_ms(before: dict, after: dict, slack: float) -> dict:
    """The noise allowed between two samples whose timings were judged with `slack`
    (see the module's docstring)."""
    spread = 0.0
    if before["n"] >= SPREAD_MIN_VALUES and after["n"] >= SPREAD_MIN_VALUES:
        spread = max(before["half_range"], after["half_range"])
    return {"noise": slack + spread, "slack": slack, "spread": spread}


def _move(scenario: str, client: str, kind: str, name: str, sa: dict, sb: dict, slack: float) -> dict | None:
    delta = sb["median"] - sa["median"]
    n = noise_ms(sa, sb, slack)
    if abs(delta) <= n["noise"]:
        return None
    return {
        "scenario": scenario,
        "client": client,
        "kind": kind,
        "name": name,
        "unit": "ms",
        "before": _r(sa["median"]),
        "after": _r(sb["median"]),
        "delta": _r(delta),
        "noise": _r(n["noise"]),
        "slack": _r(n["slack"]),
        "spread": _r(n["spread"]),
        "n_before": sa["n"],
        "n_after": sb["n"],
        "direction": "slower" if delta > 0 else "faster",
    }


def _clients(run: dict) -> set[str]:
    return {e["client"] for e in run.get("entries", [])}


def _paired(a: dict, b: dict) -> tuple[dict, dict]:
    """An upgrade compared: a client found in only one run (nats-py@2.15.0) and one found
    only in the other (nats-py), both of one base client and the only such pair, are one
    client "nats-py@2.15.0 → nats-py" in both, so its entries are compared."""
    only_a, only_b = _clients(a) - _clients(b), _clients(b) - _clients(a)
    label: dict[str, str] = {}
    for name in {versions.base(c) for c in only_a}:
        xs = [c for c in only_a if versions.base(c) == name]
        ys = [c for c in only_b if versions.base(c) == name]
        if len(xs) == len(ys) == 1:
            label[xs[0]] = label[ys[0]] = f"{xs[0]} → {ys[0]}"
    if not label:
        return a, b

    def renamed(run: dict) -> dict:
        entries = [{**e, "client": label.get(e["client"], e["client"])} for e in run.get("entries", [])]
        return {**run, "entries": entries}

    return renamed(a), renamed(b)


def compare(a: dict, b: dict) -> dict:
    """Run `a` (before) against run `b` (after): plain, JSON-serialisable data."""
    a, b = _paired(a, b)
    ea, eb = _entries(a), _entries(b)
    added = [_entry_item(e) for k, e in sorted(eb.items()) if k not in ea]
    removed = [_entry_item(e) for k, e in sorted(ea.items()) if k not in eb]

    status_changed: list[dict] = []
    outcomes_changed: list[dict] = []
    verdicts_changed: list[dict] = []
    appeared: list[dict] = []
    disappeared: list[dict] = []
    moved: list[dict] = []
    compared = 0
    run_slack = judged_slack([c for run in (a, b) for e in run.get("entries", []) for c in e.get("checks") or []])
    for key in sorted(ea.keys() & eb.keys()):
        x, y = ea[key], eb[key]
        scenario, client = key
        if x.get("status") != y.get("status"):
            # An entry that errored or was interrupted holds no (or partial) checks:
            # the status change is the finding, not each check that went with it.
            status_changed.append(
                {
                    "scenario": scenario,
                    "client": client,
                    "before": x.get("status"),
                    "after": y.get("status"),
                    "error_before": x.get("error"),
                    "error_after": y.get("error"),
                }
            )
            continue
        oa, ob = x["outcome"], y["outcome"]
        if oa["result"] != ob["result"]:
            outcomes_changed.append(
                {
                    "scenario": scenario,
                    "client": client,
                    "before": oa["result"],
                    "after": ob["result"],
                    "reason_before": oa["reason"],
                    "reason_after": ob["reason"],
                }
            )
        ca, cb = _checks(x), _checks(y)
        entry_slack = judged_slack([*ca.values(), *cb.values()])
        if entry_slack is None:
            entry_slack = run_slack if run_slack is not None else 0.0
        for cid, c in cb.items():
            if cid not in ca:
                appeared.append(_check_item(scenario, client, cid, c))
        for cid, c in ca.items():
            if cid not in cb:
                disappeared.append(_check_item(scenario, client, cid, c))
        for cid in [c for c in ca if c in cb]:
            p, q = ca[cid], cb[cid]
            if p["verdict"] != q["verdict"]:
                verdicts_changed.append(
                    {
                        "scenario": scenario,
                        "client": client,
                        "check": cid,
                        "before": p["verdict"],
                        "after": q["verdict"],
                        "observed_before": copy.deepcopy(p.get("observed")),
                        "observed_after": copy.deepcopy(q.get("observed")),
                        "unit": q.get("unit"),
                        "detail": q.get("detail"),
                    }
                )
            if _is_timing_check(p) and _is_timing_check(q):
                sa, sb = _sample(p.get("observed")), _sample(q.get("observed"))
                if sa is not None and sb is not None:
                    compared += 1
                    own = judged_slack([p, q])
                    m = _move(scenario, client, "check", cid, sa, sb, entry_slack if own is None else own)
                    if m:
                        moved.append(m)
        ma, mb = _timing_metrics(x.get("metrics")), _timing_metrics(y.get("metrics"))
        for name in [n for n in ma if n in mb]:
            compared += 1
            m = _move(scenario, client, "metric", name, ma[name], mb[name], entry_slack)
            if m:
                moved.append(m)

    versions = _version_changes(a, b)
    counts = {
        "entries_added": len(added),
        "entries_removed": len(removed),
        "statuses_changed": len(status_changed),
        "outcomes_changed": len(outcomes_changed),
        "verdicts_changed": len(verdicts_changed),
        "checks_appeared": len(appeared),
        "checks_disappeared": len(disappeared),
        "timings_moved": len(moved),
        "versions_changed": len(versions),
    }
    notes = []
    for side, run in (("before", a), ("after", b)):
        if run.get("complete") is False:
            notes.append(f"the {side} run is incomplete (interrupted): entries missing from it may simply not have run")
    return {
        "summary": _summary_line(counts),
        "unlike": _unlike(a, b, versions),
        "differences": sum(counts.values()),
        "counts": counts,
        "runs": {"before": _run_info(a), "after": _run_info(b)},
        "notes": notes,
        "added": added,
        "removed": removed,
        "versions": versions,
        "statuses": status_changed,
        "outcomes": outcomes_changed,
        "verdicts": verdicts_changed,
        "checks_appeared": appeared,
        "checks_disappeared": disappeared,
        "timings": {"compared": compared, "noise_rule": NOISE_RULE, "moved": moved},
    }


# What CI gates on: a judgement changed (not a timing, a version or an entry's presence).
GATED = ("statuses_changed", "outcomes_changed", "verdicts_changed")


def gates(c: dict) -> bool:
    """True when a verdict, an outcome or a status changed: `harness compare` exits 1."""
    return any(c["counts"][k] for k in GATED)


def _backends(run: dict) -> str:
    r = run.get("run", {})
    found = {r.get("backend")} | {e.get("backend") for e in run.get("entries", []) if e.get("backend")}
    return ", ".join(sorted(str(x) for x in found if x is not None))


def _unlike(a: dict, b: dict, versions: list[dict]) -> list[str]:
    """What makes the two runs unlike, one phrase each: a difference here may explain
    any change below."""
    out = []
    oa, ob = a.get("run", {}).get("options") or None, b.get("run", {}).get("options") or None
    if oa != ob:
        shown = [compact(o, 6, 120) if o else "none" for o in (oa, ob)]
        out.append(f"user options ({shown[0]} -> {shown[1]})")
    ba, bb = _backends(a), _backends(b)
    if ba != bb:
        out.append(f"backend ({ba} -> {bb})")
    for what in ("client", "server"):
        names = [v["name"] for v in versions if v["what"] == what]
        if names:
            out.append(f"{what} versions ({', '.join(names)})")
    return out


def unlike_line(c: dict) -> str | None:
    """The warning both renderings open with, or None when the runs are alike."""
    if not c["unlike"]:
        return None
    return "UNLIKE RUNS: they differ in " + "; ".join(c["unlike"])


def _entry_item(e: dict) -> dict:
    return {k: e.get(k) for k in ("scenario", "client", "library", "client_version", "status")}


def _check_item(scenario: str, client: str, cid: str, c: dict) -> dict:
    return {
        "scenario": scenario,
        "client": client,
        "check": cid,
        "verdict": c["verdict"],
        "observed": copy.deepcopy(c.get("observed")),
        "unit": c.get("unit"),
        "detail": c.get("detail"),
    }


_PHRASES = (
    ("entries_added", "entry added", "entries added"),
    ("entries_removed", "entry removed", "entries removed"),
    ("statuses_changed", "status changed", "statuses changed"),
    ("outcomes_changed", "outcome changed", "outcomes changed"),
    ("verdicts_changed", "verdict changed", "verdicts changed"),
    ("checks_appeared", "check appeared", "checks appeared"),
    ("checks_disappeared", "check disappeared", "checks disappeared"),
    ("timings_moved", "timing moved", "timings moved"),
    ("versions_changed", "version changed", "versions changed"),
)


def _summary_line(counts: dict) -> str:
    parts = [f"{counts[k]} {one if counts[k] == 1 else many}" for k, one, many in _PHRASES if counts[k]]
    return ", ".join(parts) if parts else "no differences beyond noise"


# -- formatting shared by both renderings --


def _clean(s: Any) -> str:
    """One line, no control characters (a newline or tab becomes a space)."""
    s = str(s)
    out = []
    for ch in s:
        if ch in "\n\r\t":
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co"):
            out.append("?")
        else:
            out.append(ch)
    return "".join(out)


def _num(v: float) -> str:
    return num(round(v, 2) + 0.0)  # + 0.0: no -0


def _fmt(v: Any, items: int = TEXT_ITEMS, chars: int = TEXT_VALUE_CHARS) -> str:
    """A value, short (the reports' one formatter), on one clean line."""
    return _clean(compact(v, items, chars))


def _with_unit(v: Any, unit: str | None, **kw: Any) -> str:
    return _fmt(v, **kw) + (f" {_clean(unit)}" if unit and v is not None else "")


def _signed(v: float) -> str:
    return ("+" if v > 0 else "") + _num(v)


def _run_line(info: dict) -> str:
    host = info.get("host") or {}
    where = " ".join(str(host[k]) for k in ("machine", "system", "release") if host.get(k))
    if host.get("cpus"):
        where += f", {host['cpus']} CPUs"
    parts = [
        f"run {info.get('id')}",
        f"started {info.get('started_at')}",
        f"harness {info.get('harness_version')}",
        f"backend {info.get('backend')}",
    ]
    if where:
        parts.append(where)
    parts.append(f"{info.get('entries')} entries")
    if info.get("complete") is False:
        parts.append("INCOMPLETE")
    return _clean(", ".join(parts))


def _where(item: dict, name_key: str | None = None) -> str:
    parts = [item["scenario"], item["client"]]
    if name_key:
        parts.append(item[name_key])
    return _clean(" / ".join(parts))


def _timing_where(m: dict) -> str:
    return _clean(f"{m['scenario']} / {m['client']} / {'metric ' if m['kind'] == 'metric' else ''}{m['name']}")


def _timing_text(m: dict) -> str:
    noise = f"noise {_num(m['noise'])} ms"
    if m["spread"]:
        noise += f" = slack {_num(m['slack'])} + spread {_num(m['spread'])}"
    return (
        f"median {_num(m['before'])} -> {_num(m['after'])} ms ({_signed(m['delta'])} ms, {m['direction']}; "
        f"{noise}; n {m['n_before']} -> {m['n_after']})"
    )


# -- text --

_WRAP = 116


def _wrapped(s: str, indent: str) -> list[str]:
    return textwrap.wrap(_clean(s), width=_WRAP, initial_indent=indent, subsequent_indent=indent) or [indent]


def render_text(c: dict) -> str:
    """Plain text for a terminal or a CI log: the one-line verdict first, then each
    non-empty section. No colours, no control characters."""
    unlike = unlike_line(c)
    out = [_clean(unlike)] if unlike else []
    out.append(_clean(c["summary"]))
    out.append("before: " + _run_line(c["runs"]["before"]))
    out.append("after:  " + _run_line(c["runs"]["after"]))
    out.extend(f"note: {_clean(n)}" for n in c["notes"])

    def section(title: str, lines: list[str]) -> None:
        if lines:
            out.append("")
            out.append(title)
            out.extend(lines)

    section(
        "Entries only in the after run (added):",
        [f"  {_where(e)}  ({_clean(e['library'])} {_clean(e['client_version'])}, {e['status']})" for e in c["added"]],
    )
    section(
        "Entries only in the before run (removed):",
        [f"  {_where(e)}  ({_clean(e['library'])} {_clean(e['client_version'])}, {e['status']})" for e in c["removed"]],
    )
    lines = []
    for s in c["statuses"]:
        lines.append(f"  {_where(s)}: {s['before']} -> {s['after']}")
        for side in ("before", "after"):
            if s[f"error_{side}"]:
                lines.extend(_wrapped(f"error ({side}): {s[f'error_{side}']}", "      "))
    section("Status changed (checks of these entries are not compared):", lines)
    lines = []
    for o in c["outcomes"]:
        lines.append(f"  {_where(o)}: {o['before']} -> {o['after']}")
        if o["reason_after"]:
            lines.extend(_wrapped(f"now: {o['reason_after']}", "      "))
    section("Outcomes changed:", lines)
    section(
        "Versions changed:",
        [
            f"  {v['what']} {_clean(v['name'])}: {_clean(v['before'])} -> {_clean(v['after'])}"
            if v["what"] != "harness"
            else f"  harness: {_clean(v['before'])} -> {_clean(v['after'])}"
            for v in c["versions"]
        ],
    )
    lines = []
    for v in c["verdicts"]:
        lines.append(f"  {_where(v, 'check')}: {v['before']} -> {v['after']}")
        lines.append(
            f"      observed before {_with_unit(v['observed_before'], v['unit'])}, "
            f"after {_with_unit(v['observed_after'], v['unit'])}"
        )
        lines.extend(_wrapped(f"now: {v['detail']}", "      "))
    section("Verdicts changed:", lines)
    for key, title in (
        ("checks_appeared", "Checks that appeared:"),
        ("checks_disappeared", "Checks that disappeared:"),
    ):
        lines = []
        for x in c[key]:
            lines.append(f"  {_where(x, 'check')}: {x['verdict']}, observed {_with_unit(x['observed'], x['unit'])}")
            lines.extend(_wrapped(str(x["detail"]), "      "))
        section(title, lines)
    t = c["timings"]
    if t["moved"]:
        lines = []
        for m in t["moved"]:
            lines.append(f"  {_timing_where(m)}")
            lines.append(f"      {_timing_text(m)}")
        lines.extend(_wrapped(f"({t['noise_rule']})", "  "))
        section(f"Timings moved beyond noise ({len(t['moved'])} of {t['compared']} compared):", lines)
    elif t["compared"]:
        out.append("")
        out.extend(_wrapped(f"Timings: {t['compared']} compared, none moved beyond noise ({t['noise_rule']}).", ""))
    return "\n".join(out)


# -- HTML --

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; }
h2 { font-size: 1.1em; margin-top: 1.6em; }
p.verdict { font-size: 1.15em; font-weight: bold; }
p.unlike { background: #fff1d6; border: 1px solid #d4a72c; padding: 0.4em 0.7em; font-weight: bold; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.detail { max-width: 40em; }
.conforms { color: #17623a; }
.deviates { color: #a11; font-weight: bold; }
.not-measured { color: #666; }
p.note { color: #555; }
"""


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


Cell = Any  # a value shown as text, or (css class, value)


def _table(headers: list[str], rows: list[list[Cell]]) -> str:
    """A table; every cell's text is escaped here."""
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in headers) + "</tr></thead>", "<tbody>"]
    for row in rows:
        cells = []
        for cell in row:
            cls, v = cell if isinstance(cell, tuple) else ("", cell)
            cells.append(f'<td class="{_e(cls)}">{_e(v)}</td>' if cls else f"<td>{_e(v)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.extend(["</tbody>", "</table>"])
    return "\n".join(out)


def _hv(v: Any, unit: str | None = None) -> str:
    return _with_unit(v, unit, items=HTML_ITEMS, chars=HTML_VALUE_CHARS)


def _verdict(v: str) -> Cell:
    return (v, v) if v in ALL_VERDICTS else v


def _host(info: dict) -> str:
    return " ".join(f"{k} {v}" for k, v in (info.get("host") or {}).items())


def render_html(c: dict) -> str:
    """One self-contained page: inline CSS, no scripts, no external resources,
    every text escaped; a table per non-empty section."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        "<title>Run comparison</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<h1>Run comparison</h1>",
    ]
    unlike = unlike_line(c)
    if unlike:
        parts.append(f'<p class="unlike">{_e(unlike)}</p>')
    parts.append(f'<p class="verdict">{_e(c["summary"])}</p>')
    runs = [(side, c["runs"][side]) for side in ("before", "after")]
    parts.append(
        _table(
            ["", "run", "started", "harness", "backend", "host", "entries", "complete"],
            [
                [side, r.get("id"), r.get("started_at"), r.get("harness_version"), r.get("backend"), _host(r),
                 ("num", r.get("entries")), "yes" if r.get("complete") else "no"]
                for side, r in runs
            ],
        )
    )  # fmt: skip
    parts.extend(f'<p class="note">Note: {_e(n)}</p>' for n in c["notes"])

    def section(title: str, headers: list[str], rows: list[list[Cell]]) -> None:
        if rows:
            parts.append(f"<h2>{_e(title)}</h2>")
            parts.append(_table(headers, rows))

    for key, title in (
        ("added", "Entries only in the after run (added)"),
        ("removed", "Entries only in the before run (removed)"),
    ):
        section(
            title,
            ["scenario", "client", "library", "version", "status"],
            [[x["scenario"], x["client"], x["library"], x["client_version"], x["status"]] for x in c[key]],
        )
    section(
        "Status changed (checks of these entries are not compared)",
        ["scenario", "client", "before", "after", "error before", "error after"],
        [
            [s["scenario"], s["client"], s["before"], s["after"], ("detail", s["error_before"] or ""),
             ("detail", s["error_after"] or "")]
            for s in c["statuses"]
        ],
    )  # fmt: skip
    section(
        "Outcomes changed",
        ["scenario", "client", "before", "after", "reason before", "reason after"],
        [
            [o["scenario"], o["client"], _verdict(o["before"]), _verdict(o["after"]),
             ("detail", o["reason_before"] or ""), ("detail", o["reason_after"] or "")]
            for o in c["outcomes"]
        ],
    )  # fmt: skip
    section(
        "Versions changed",
        ["what", "name", "before", "after"],
        [[v["what"], v["name"], v["before"], v["after"]] for v in c["versions"]],
    )
    section(
        "Verdicts changed",
        ["scenario", "client", "check", "before", "after", "observed before", "observed after", "detail (after)"],
        [
            [v["scenario"], v["client"], v["check"], _verdict(v["before"]), _verdict(v["after"]),
             _hv(v["observed_before"], v["unit"]), _hv(v["observed_after"], v["unit"]), ("detail", v["detail"])]
            for v in c["verdicts"]
        ],
    )  # fmt: skip
    for key, title in (("checks_appeared", "Checks that appeared"), ("checks_disappeared", "Checks that disappeared")):
        section(
            title,
            ["scenario", "client", "check", "verdict", "observed", "detail"],
            [
                [x["scenario"], x["client"], x["check"], _verdict(x["verdict"]), _hv(x["observed"], x["unit"]),
                 ("detail", x["detail"])]
                for x in c[key]
            ],
        )  # fmt: skip
    t = c["timings"]
    section(
        f"Timings moved beyond noise ({len(t['moved'])} of {t['compared']} compared)",
        ["scenario", "client", "check or metric", "median before (ms)", "median after (ms)", "delta (ms)",
         "noise (ms)", "of which spread (ms)", "direction", "values (n)"],
        [
            [m["scenario"], m["client"], ("metric " if m["kind"] == "metric" else "") + m["name"],
             ("num", _num(m["before"])), ("num", _num(m["after"])), ("num", _signed(m["delta"])),
             ("num", _num(m["noise"])), ("num", _num(m["spread"])), m["direction"],
             ("num", f"{m['n_before']} -> {m['n_after']}")]
            for m in t["moved"]
        ],
    )  # fmt: skip
    if t["compared"]:
        parts.append(f'<p class="note">{_e(t["compared"])} timings compared; {_e(t["noise_rule"])}.</p>')
    parts.extend(["</body>", "</html>"])
    return "\n".join(parts) + "\n"


# -- files --


def load_pair(path_a: Path, path_b: Path) -> tuple[dict, dict]:
    """Read two runs (each a results.json or the folder holding it). A missing or
    bad file is harness.errors.UsageError, one line naming the file."""
    return results.load(Path(path_a)), results.load(Path(path_b))
