"""The short, readable account of a run printed on the terminal.

Plain text that reads the same in a CI log as on a terminal: no colours, no
control characters. Each entry's cell and line come from its stored outcome
(model.py), values from the shared formatter (values.py).
"""

from __future__ import annotations

from harness.report import model
from harness.report.values import band_text, compact, units

# Shown of a deviation's values: the first few items of a list.
ITEMS = 6


def entry_line(entry: dict) -> str:
    """One line for an entry: its verdict counts, or its outcome and why."""
    r = model.result(entry)
    if r in model.JUDGED:
        c = model.counts(entry)
        line = f"{c['conforms']} conform, {c['deviates']} deviate, {c['not-measured']} not measured"
        if c["holds"] or c["violated"]:
            line += f"; invariants: {c['holds']} hold, {c['violated']} violated"
        return line
    words, why = model.OUTCOMES[r].words, model.reason(entry)
    if words is None:
        return why or model.label(r)
    return f"{words}: {why}" if why else words


def table(results: dict) -> str:
    """Scenario rows x client columns, each cell the verdict counts (C/D/N) or the outcome."""
    entries = results["entries"]
    clients = model.all_clients(entries)
    scenarios = list(dict.fromkeys(e["scenario"] for e in entries))
    cell = {(e["scenario"], e["client"]): model.cell_text(e) for e in entries}
    w0 = max([len("scenario"), *map(len, scenarios)])
    widths = [max(len(cl), 8) for cl in clients]
    lines = ["  ".join(["scenario".ljust(w0), *(cl.ljust(w) for cl, w in zip(clients, widths, strict=True))])]
    lines.append("  ".join(["-" * w0, *("-" * w for w in widths)]))
    for s in scenarios:
        row = [s.ljust(w0)] + [cell.get((s, cl), "-").ljust(w) for cl, w in zip(clients, widths, strict=True)]
        lines.append("  ".join(row))
    lines.append(
        "cells: conforms/deviates/not-measured (V:n invariants violated); "
        + model.legend(("not-applicable", "metrics-only"))
    )
    for reason in sorted({model.reason(e) or "" for e in entries if model.result(e) == "skipped"}):
        lines.append(f"skipped (not run on this backend): {reason}")
    return "\n".join(lines)


def versions(results: dict) -> str:
    seen: dict[str, str] = {}
    for e in results["entries"]:
        seen.setdefault(e["client"], f"{e['library']} {e['client_version']}")
        for k, v in e["server_versions"].items():
            seen.setdefault(k, v)
    return ", ".join(f"{k} {v}" if k in ("toxiproxy", "nats-server") else f"{k}: {v}" for k, v in seen.items())


def fates_table(entries: list[dict]) -> list[str]:
    """Per kind of fault and client: accepted / delivered / lost silently / lost and reported / duplicated."""
    matrix = model.fates(entries)
    if not matrix:
        return []
    clients = model.all_clients(entries)
    cells = {(k, c): "/".join(str(v[x]) for x in model.FATE_COLUMNS) for k, by in matrix.items() for c, v in by.items()}
    w0 = max(len("fault"), *map(len, matrix))
    widths = [max(len(c), *(len(cells.get((k, c), "-")) for k in matrix)) for c in clients]
    lines = ["Message fates (accepted/delivered/lost silently/lost and reported/duplicated):"]
    lines.append("  ".join(["fault".ljust(w0), *(c.ljust(w) for c, w in zip(clients, widths, strict=True))]))
    for k in matrix:
        lines.append(
            "  ".join([k.ljust(w0), *(cells.get((k, c), "-").ljust(w) for c, w in zip(clients, widths, strict=True))])
        )
    return lines


def render(results: dict) -> str:
    entries = results["entries"]
    out = [table(results), ""]
    for verdict, heading in (
        ("violated", "Invariants violated (whatever the documentation says):"),
        ("deviates", "Deviations from the documentation:"),
    ):
        devs = model.findings(entries, verdict)
        if not devs:
            continue
        out.append(heading)
        for e, c in devs:
            unit, ounit = units(c)
            band = f" (band {band_text(c['band'], c['unit'])})" if c.get("band") else ""
            out.append(
                f"  {e['scenario']} / {e['client']} / {c['id']}: "
                f"{model.held_to(c)} {compact(c['documented'], ITEMS)}{unit}, "
                f"observed {compact(c['observed'], ITEMS)}{ounit}{band}"
            )
            out.append(f"      {c['detail']}")
    out += fates_table(entries)
    if line := model.run_noise(entries)["line"]:
        out.append(line)
    errors = [e for e in entries if model.failed(e)]
    if errors:
        out.append("Harness errors (environment, not verdicts):")
        for e in errors:
            out.append(f"  {e['scenario']} / {e['client']}: {model.reason(e)}")
    out.append(f"Versions: {versions(results)}")
    if not results["complete"]:
        out.append("INCOMPLETE: the run was interrupted; results hold what finished.")
    return "\n".join(out)
