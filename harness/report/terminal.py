"""The short, readable account of a run printed on the terminal.

Plain text that reads the same in a CI log as on a terminal: no colours, no
control characters.
"""

from __future__ import annotations

from collections import Counter


def counts(entry: dict) -> Counter:
    return Counter(c["verdict"] for c in entry["checks"])


def entry_line(entry: dict) -> str:
    if entry["status"] != "ok":
        return f"{entry['status'].upper()}: {entry['error']}"
    if entry.get("skipped"):
        return f"skipped: {entry['skipped']}"
    if entry.get("unsupported") and not entry["checks"]:
        return f"not applicable: {entry['unsupported']}"
    if not entry["checks"]:
        return "measured only (the documentation makes no claim here)"
    c = counts(entry)
    return f"{c['conforms']} conform, {c['deviates']} deviate, {c['not-measured']} not measured"


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list):
        shown = ", ".join(_fmt(x) for x in v[:6])
        return f"[{shown}{', ...' if len(v) > 6 else ''}]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_fmt(x)}" for k, x in list(v.items())[:6]) + "}"
    return str(v)


def table(results: dict) -> str:
    """Scenario rows x client columns, each cell the verdict counts (C/D/N)."""
    entries = results["entries"]
    clients = sorted({e["client"] for e in entries})
    scenarios = list(dict.fromkeys(e["scenario"] for e in entries))
    cell: dict[tuple[str, str], str] = {}
    for e in entries:
        if e["status"] != "ok":
            cell[(e["scenario"], e["client"])] = e["status"].upper()
        elif e.get("skipped"):
            cell[(e["scenario"], e["client"])] = "skipped"
        elif e.get("unsupported") and not e["checks"]:
            cell[(e["scenario"], e["client"])] = "n/a"
        elif not e["checks"]:
            cell[(e["scenario"], e["client"])] = "metrics"
        else:
            c = counts(e)
            cell[(e["scenario"], e["client"])] = f"{c['conforms']}/{c['deviates']}/{c['not-measured']}"
    w0 = max([len("scenario"), *map(len, scenarios)])
    widths = [max(len(cl), 8) for cl in clients]
    lines = ["  ".join(["scenario".ljust(w0), *(cl.ljust(w) for cl, w in zip(clients, widths, strict=True))])]
    lines.append("  ".join(["-" * w0, *("-" * w for w in widths)]))
    for s in scenarios:
        row = [s.ljust(w0)] + [cell.get((s, cl), "-").ljust(w) for cl, w in zip(clients, widths, strict=True)]
        lines.append("  ".join(row))
    lines.append(
        "cells: conforms/deviates/not-measured; n/a: the library lacks what the scenario needs; "
        "metrics: measured, no documented claim to judge"
    )
    for reason in sorted({e["skipped"] for e in entries if e.get("skipped")}):
        lines.append(f"skipped (not run on this backend): {reason}")
    return "\n".join(lines)


def versions(results: dict) -> str:
    seen: dict[str, str] = {}
    for e in results["entries"]:
        seen.setdefault(e["client"], f"{e['library']} {e['client_version']}")
        for k, v in e["server_versions"].items():
            seen.setdefault(k, v)
    return ", ".join(f"{k} {v}" if k in ("toxiproxy", "nats-server") else f"{k}: {v}" for k, v in seen.items())


def render(results: dict) -> str:
    entries = results["entries"]
    out = [table(results), ""]
    devs = [(e, c) for e in entries for c in e["checks"] if c["verdict"] == "deviates"]
    if devs:
        out.append("Deviations from the documentation:")
        for e, c in devs:
            out.append(
                f"  {e['scenario']} / {e['client']} / {c['id']}: documented {_fmt(c['documented'])}"
                f"{' ' + c['unit'] if c['unit'] else ''}, observed {_fmt(c['observed'])}"
            )
            out.append(f"      {c['detail']}")
    errors = [e for e in entries if e["status"] != "ok"]
    if errors:
        out.append("Harness errors (environment, not verdicts):")
        for e in errors:
            out.append(f"  {e['scenario']} / {e['client']}: {e['error']}")
    out.append(f"Versions: {versions(results)}")
    if not results["complete"]:
        out.append("INCOMPLETE: the run was interrupted; results hold what finished.")
    return "\n".join(out)
