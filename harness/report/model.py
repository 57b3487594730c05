"""What every report of a run shows, whatever it is drawn with: the grouping of
entries (families, scenarios, clients, check ids), their anchors, and the label of
each outcome.

An entry's outcome is decided once, when it is judged (harness/judging/outcome.py),
and stored in it. Reports read `entry["outcome"]` through `result`, `reason` and
`counts` here; none of them works it out again from the entry's status, checks or
reasons.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.judging import outcome
from harness.judging.judge import ALL_VERDICTS, FINDINGS


@dataclass(frozen=True)
class Shown:
    """How an outcome reads: `label` in a table cell or a badge, `words` in a sentence
    (None: the stored reason says it all)."""

    label: str
    words: str | None


OUTCOMES: dict[str, Shown] = {
    "error": Shown("error", "ERROR"),
    "interrupted": Shown("interrupted", "INTERRUPTED"),
    "skipped": Shown("skipped", "skipped"),
    "not-applicable": Shown("n/a", "not applicable"),
    "metrics-only": Shown("metrics", None),
    "violated": Shown("violated", "an invariant is violated"),
    "deviates": Shown("deviates", "deviates"),
    "not-measured": Shown("not-measured", "not measured"),
    "conforms": Shown("conforms", "conforms"),
    "holds": Shown("holds", "every invariant holds"),
}
# Outcomes of entries whose checks were judged: their cells show the verdict counts.
JUDGED = outcome.JUDGED
# The run's timing noise and whether it was too loaded to judge: decided there, printed as is.
run_noise = outcome.run_noise
# The harness's environment failed (or the run stopped): nothing of the entry is judged.
FAILED = ("error", "interrupted")
# What each outcome without verdicts means, in the legends of the tables.
LEGEND = {
    "not-applicable": "the library lacks what the scenario needs",
    "metrics-only": "measured, no documented claim to judge",
    "skipped": "this backend cannot run the scenario's topology",
    "error": "the harness's environment failed",
    "interrupted": "the run was stopped before the entry finished",
}


def result(entry: dict) -> str:
    """The entry's outcome word (one of OUTCOMES)."""
    return entry["outcome"]["result"]


def reason(entry: dict) -> str | None:
    return entry["outcome"]["reason"]


def counts(entry: dict) -> dict[str, int]:
    """Checks per verdict, every verdict named."""
    return entry["outcome"]["counts"]


def label(outcome: str) -> str:
    return OUTCOMES[outcome].label


def failed(entry: dict) -> bool:
    return result(entry) in FAILED


def counts_text(entry: dict) -> str:
    """conforms/deviates/not-measured, and `V:n` when n invariants are violated."""
    c = counts(entry)
    return f"{c['conforms']}/{c['deviates']}/{c['not-measured']}" + (f" V:{c['violated']}" if c["violated"] else "")


def held_to(check: dict) -> str:
    """What a check's `documented` is: what the documentation says, or what every client is held to."""
    return "held to" if check.get("kind") == "invariant" else "documented"


def findings(entries: list[dict], verdict: str) -> list[tuple[dict, dict]]:
    """(entry, check) for every check with `verdict` (deviates, violated)."""
    assert verdict in FINDINGS
    return [(e, c) for e in entries for c in e["checks"] if c["verdict"] == verdict]


def is_finding(entry: dict) -> bool:
    """The entry's outcome is a finding about the library (a deviation or a violation)."""
    return result(entry) in FINDINGS


def cell_text(entry: dict) -> str:
    """A plain-text table cell (terminal, Markdown): the verdict counts of a judged
    entry, else its outcome's label, shouted when the harness failed."""
    r = result(entry)
    if r in JUDGED:
        return counts_text(entry)
    return label(r).upper() if r in FAILED else label(r)


def legend(outcomes: tuple[str, ...]) -> str:
    """`label: meaning` for each outcome named, joined by "; "."""
    return "; ".join(f"{label(o)}: {LEGEND[o]}" for o in outcomes)


# ---------------------------------------------------------------------------
# Grouping


def families(entries: list[dict]) -> dict[str, dict[str, dict[str, dict]]]:
    """family -> scenario -> client -> entry, in the order of first appearance."""
    out: dict[str, dict[str, dict[str, dict]]] = {}
    for e in entries:
        out.setdefault(e["family"], {}).setdefault(e["scenario"], {})[e["client"]] = e
    return out


def family_clients(scenarios: dict[str, dict[str, dict]]) -> list[str]:
    return sorted({c for by_client in scenarios.values() for c in by_client})


def all_clients(entries: list[dict]) -> list[str]:
    return sorted({e["client"] for e in entries})


def check_ids(by_client: dict[str, dict]) -> list[str]:
    """Every check id of a scenario over its clients, in order of first appearance."""
    return list(dict.fromkeys(c["id"] for e in by_client.values() for c in e["checks"]))


def total_counts(entries: list[dict]) -> dict[str, int]:
    """Checks per verdict over entries, every verdict named."""
    out = dict.fromkeys(ALL_VERDICTS, 0)
    for e in entries:
        for v, n in counts(e).items():
            out[v] = out.get(v, 0) + n
    return out


def cell_state(entry: dict | None, check_id: str | None) -> str:
    """What one overview cell shows: the check's verdict, "not-run" (no entry),
    "none" (the entry has no such check), or the entry's outcome when it judged
    nothing."""
    if entry is None:
        return "not-run"
    if check_id is not None:
        for c in entry["checks"]:
            if c["id"] == check_id:
                return c["verdict"]
    r = result(entry)
    return "none" if r in JUDGED else r


# ---------------------------------------------------------------------------
# Anchors


def slug(s: str) -> str:
    """A reversible, HTML-id-safe spelling of any string."""
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in ".-") else f"_{ord(ch):x}_" for ch in s)


def entry_anchor(entry: dict) -> str:
    return f"e-{slug(entry['scenario'])}--{slug(entry['client'])}"


def check_anchor(entry: dict, check_id: str) -> str:
    return f"{entry_anchor(entry)}--{slug(check_id)}"


def replay_command(entry: dict) -> str:
    where = entry.get("workdir") or f"<out>/work/{entry['scenario']}--{entry['client']}"
    return f"harness replay {where}"


# ---------------------------------------------------------------------------
# Message fates

FATE_COLUMNS = ("accepted", "delivered", "lost_silently", "lost_reported", "duplicated")


def fault_of(entry: dict) -> str:
    """The kind of the entry's first fault ("none" without one)."""
    return entry["faults"][0]["kind"] if entry["faults"] else "none"


def fates(entries: list[dict]) -> dict[str, dict[str, dict]]:
    """fault kind -> client -> the fates the invariants counted (metrics.fates),
    summed over the entries with that kind of fault."""
    out: dict[str, dict[str, dict]] = {}
    for e in entries:
        f = e["metrics"].get("fates")
        if not f:
            continue
        cell = out.setdefault(fault_of(e), {}).setdefault(e["client"], dict.fromkeys(FATE_COLUMNS, 0))
        for k in FATE_COLUMNS:
            cell[k] += f.get(k, 0)
    return out
