"""The baseline: deviations already known, each kept with its evidence.

CI gates on it. For every scenario x client that ran:
  - a deviation not in the baseline fails the run (something new to look at);
  - a baseline deviation that no longer deviates fails the run too (the library or
    the harness changed; update the baseline deliberately, with new evidence).
    A violated invariant is gated the same way.
An entry marked `intermittent = true` was seen in some runs and not in others (a
message lost only when a fault lands between a write and its flush, a delay over its
band only when an attempt was in flight at the heal): it may come and go without
failing the run, and its evidence says how often it was seen.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from harness import paths
from harness.errors import UsageError
from harness.judging.judge import FINDINGS, NOISE, STALLED, UNDECIDED

DEFAULT = paths.SCENARIOS / "baseline.toml"


@dataclass(frozen=True)
class Known:
    scenario: str
    client: str
    check: str
    evidence: str
    intermittent: bool = False


def load(path: Path = DEFAULT) -> dict[tuple[str, str, str], Known]:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"baseline {path} does not exist") from None
    except OSError as e:
        raise UsageError(f"cannot read baseline {path}: {e.strerror or e}") from None
    except (ValueError, RecursionError) as e:  # not UTF-8, not TOML (a ValueError), or nested too deep
        raise UsageError(f"baseline {path} is not valid TOML: {e}") from None
    out: dict[tuple[str, str, str], Known] = {}
    deviations = data.get("deviation", [])
    if not isinstance(deviations, list) or not all(isinstance(d, dict) for d in deviations):
        raise UsageError(f"baseline {path}: deviation must be a list of [[deviation]] tables")
    for i, d in enumerate(deviations):
        missing = [k for k in ("scenario", "client", "check", "evidence") if not d.get(k)]
        if missing:
            raise UsageError(f"baseline {path}: deviation #{i + 1} lacks {', '.join(missing)}")
        wrong = [k for k in ("scenario", "client", "check", "evidence") if not isinstance(d[k], str)]
        if wrong:
            raise UsageError(f"baseline {path}: deviation #{i + 1}: {', '.join(wrong)} must be text")
        if not isinstance(d.get("intermittent", False), bool):
            raise UsageError(f"baseline {path}: deviation #{i + 1}: intermittent must be true or false")
        k = Known(d["scenario"], d["client"], d["check"], d["evidence"].strip(), d.get("intermittent", False))
        out[(k.scenario, k.client, k.check)] = k
    return out


def compare(entry: dict, known: dict[tuple[str, str, str], Known]) -> list[str]:
    """Why this entry breaks the baseline (empty when it holds)."""
    if entry["outcome"]["result"] in ("error", "interrupted"):
        return [f"harness error: {entry['outcome']['reason']}"]
    out = []
    verdicts = {c["id"]: c for c in entry["checks"]}
    for cid, c in verdicts.items():
        if c["verdict"] in FINDINGS and (entry["scenario"], entry["client"], cid) not in known:
            what = "violation" if c["verdict"] == "violated" else "deviation"
            out.append(f"new {what} {cid}: documented {c['documented']}, observed {c['observed']} ({c['detail']})")
    for (sc, cl, cid), k in known.items():
        if sc == entry["scenario"] and cl == entry["client"]:
            c = verdicts.get(cid)
            if c is not None and c.get("why") in UNDECIDED:
                continue  # undecided, not refuted: said by unjudged()
            if k.intermittent:
                continue  # seen in some runs only: its absence refutes nothing
            if c is None or c["verdict"] not in FINDINGS:
                now = c["verdict"] if c else "no such check"
                out.append(f"known deviation {cid} disappeared (now {now}); it was: {k.evidence}")
    return out


def unjudged(entries: list[dict], known: dict[tuple[str, str, str], Known]) -> str | None:
    """A line saying which known deviations were not judged: their scenario was skipped
    (no router on this machine, say), or the run's timing noise (`why: noise`) or a
    stalled proxy (`why: proxy-stalled`) left the check undecided. Those are not
    passes. None if none."""
    skipped = {
        (e["scenario"], e["client"]): e["outcome"]["reason"] for e in entries if e["outcome"]["result"] == "skipped"
    }
    tags = {(e["scenario"], e["client"], c["id"]): c.get("why") for e in entries for c in e.get("checks") or []}
    missed = [k for (sc, cl, _), k in known.items() if (sc, cl) in skipped]
    parts = []
    if missed:
        reasons = sorted({skipped[(k.scenario, k.client)] or "not run on this backend" for k in missed})
        parts.append((len(missed), f"their scenarios skipped ({'; '.join(reasons)})"))
    for tag, by in ((NOISE, "the run's timing noise"), (STALLED, "a proxy that hung dialling a server gone")):
        if undecided := [k for key, k in known.items() if tags.get(key) == tag]:
            names = ", ".join(f"{k.scenario} / {k.client} / {k.check}" for k in undecided)
            parts.append((len(undecided), f"left undecided by {by} ({names})"))
    if not parts:
        return None
    n = sum(k for k, _ in parts)
    why = parts[0][1] if len(parts) == 1 else "; ".join(f"{k} {text}" for k, text in parts)
    return f"baseline: {n} known deviation{'s' if n != 1 else ''} not judged, {why}; not counted as holding"


def toml_for(entries: list[dict]) -> str:
    """Baseline entries for the deviations in `entries`, evidence filled from the run
    (to review and edit before committing)."""
    lines = []
    for e in entries:
        for c in e["checks"]:
            if c["verdict"] not in FINDINGS:
                continue
            evidence = (
                f"{e['library']} {e['client_version']}: documented {c['documented']}, observed "
                f"{c['observed']}. {c['detail']}"
            ).replace('"""', "'''")
            lines += [
                "[[deviation]]",
                f'scenario = "{e["scenario"]}"',
                f'client = "{e["client"]}"',
                f'check = "{c["id"]}"',
                f'evidence = """{evidence}"""',
                "",
            ]
    return "\n".join(lines)
