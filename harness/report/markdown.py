"""The Markdown summary of a run, fit for a CI job summary (GitHub step summary).

Compact: run info, the scenario x client table per family (verdict counts per
cell, as on the terminal), every deviation with what was documented and what was
observed, harness errors, versions. The details are in report.html beside it.
"""

from __future__ import annotations

from collections import defaultdict

from harness.report import model
from harness.report.values import band_text, compact, units

_SPECIAL = "\\`*_[]<>|#"


def text(s: object) -> str:
    """Plain text from the data, safe inside Markdown (and its tables)."""
    out = " ".join(str(s).split())
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in out)


def code(s: object) -> str:
    """An inline code span holding any text (pipes escaped for tables)."""
    s = " ".join(str(s).split()).replace("|", "\\|")
    fence = "`"
    while fence in s:
        fence += "`"
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def cell(entry: dict | None) -> str:
    if entry is None:
        return "·"
    s = model.cell_text(entry)
    if model.failed(entry):
        return f"**{s}**"
    return f"**{s}** ❌" if model.is_finding(entry) else s


def render(results: dict) -> str:
    run = results["run"]
    entries = results["entries"]
    out = [f"## Fault harness run {code(run['id'])}", ""]
    if not results["complete"]:
        out += ["> [!WARNING]", "> **INCOMPLETE**: the run was interrupted; the results hold only what finished.", ""]
    loaded = model.run_noise(entries)
    if loaded["too_loaded"]:
        out += ["> [!WARNING]", f"> {text(loaded['line'])}", ""]
    total = model.total_counts(entries)
    errors = [e for e in entries if model.failed(e)]
    host = run.get("host") or {}
    out += [
        f"**{total['conforms']}** conform · **{total['deviates']}** deviate · **{total['not-measured']}** not measured"
        + (f" · **{total['violated']}** invariants violated" if total["violated"] else "")
        + f" · {len(entries)} entries ({len(model.all_clients(entries))} clients)"
        + (f" · **{len(errors)} harness error{'s' if len(errors) != 1 else ''}**" if errors else ""),
        "",
        f"{text(run['started_at'])}"
        + (f" → {text(run['finished_at'])}" if run.get("finished_at") else "")
        + f" · backend {code(run['backend'])} · harness {text(run['harness_version'])}"
        + f" · base seed {text(run.get('seed'))} · host {text(', '.join(f'{k} {v}' for k, v in host.items()))}",
        "",
        f"Command: {code(run['command'])}",
    ]
    if loaded["line"] and not loaded["too_loaded"]:
        out += ["", text(loaded["line"]) + "."]
    for family, scenarios in model.families(entries).items():
        clients = model.family_clients(scenarios)
        out += ["", f"### {text(family)}", ""]
        out.append("| scenario | " + " | ".join(code(c) for c in clients) + " |")
        out.append("|---|" + "---|" * len(clients))
        for scenario, by_client in scenarios.items():
            out.append(f"| {code(scenario)} | " + " | ".join(cell(by_client.get(c)) for c in clients) + " |")
    out += [
        "",
        "Cells: conforms/deviates/not-measured (V:n invariants violated); "
        + model.legend(("not-applicable", "metrics-only", "skipped"))
        + ".",
    ]

    for verdict, heading in (("violated", "Invariants violated"), ("deviates", "Deviations from the documentation")):
        devs = model.findings(entries, verdict)
        if not devs:
            continue
        out += ["", f"### {heading} ({len(devs)})", ""]
        for e, c in devs:
            unit, ounit = units(c)
            out.append(
                f"- {code(e['scenario'])} / **{text(e['client'])}** / {code(c['id'])}: "
                f"{model.held_to(c)} {code(compact(c['documented'], 6) + unit)}, "
                f"observed {code(compact(c['observed'], 6) + ounit)}"
                + (f", band {code(band_text(c['band']))}" if c.get("band") else "")
                + "  "
            )
            out.append(f"  {text(c['detail'])}")
    matrix = model.fates(entries)
    if matrix:
        clients = model.all_clients(entries)
        out += [
            "",
            "### Message fates",
            "",
            "accepted / delivered / lost silently / lost and reported / duplicated",
            "",
        ]
        out.append("| fault | " + " | ".join(text(c) for c in clients) + " |")
        out.append("|---|" + "---|" * len(clients))
        for kind, by in matrix.items():
            row = [" / ".join(str(by[c][x]) for x in model.FATE_COLUMNS) if c in by else "·" for c in clients]
            out.append(f"| {code(kind)} | " + " | ".join(row) + " |")
    if errors:
        out += ["", f"### Harness errors ({len(errors)})", ""]
        out += [
            f"- {code(e['scenario'])} / **{text(e['client'])}**: {text(model.label(model.result(e)))}: "
            f"{text(model.reason(e))}"
            for e in errors
        ]

    libs: dict[str, str] = {}
    servers: dict[str, set] = defaultdict(set)
    for e in entries:
        libs.setdefault(e["client"], f"{e['library']} {e['client_version']}")
        for k, v in e["server_versions"].items():
            servers[k].add(v)
    out += [
        "",
        "### Versions",
        "",
        "Clients: " + ", ".join(f"{text(k)} {code(v)}" for k, v in sorted(libs.items())),
        "",
        "Servers: " + ", ".join(f"{text(k)} {code(', '.join(sorted(v)))}" for k, v in sorted(servers.items())),
        "",
        "The full report, with every timeline and the evidence of each check: `report.html` beside this file.",
    ]
    return "\n".join(out) + "\n"
