"""Stable verdicts: the same suite run N times back to back must judge alike.

    harness stability 5 'nats.*' 'amqp.*' --jobs 4      run five times, then compare
    harness stability --analyze DIR DIR DIR ...          compare runs made already

Reported: every check whose verdict flipped between runs, every entry whose status
changed, and every timing whose spread across runs (the largest per-run median
minus the smallest) is wider than its tolerance band (the documented band plus
the measurement slack on both sides, as stored with the check: never recomputed).
"""

from __future__ import annotations

from statistics import median


def _numbers(observed: object) -> list[float] | None:
    if isinstance(observed, bool):
        return None
    if isinstance(observed, int | float):
        return [float(observed)]
    if (
        isinstance(observed, list)
        and observed
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in observed)
    ):
        return [float(v) for v in observed]
    return None


def analyze(runs: list[dict]) -> dict:
    """runs: loaded results.json documents, oldest first."""
    verdicts: dict[tuple[str, str, str], list[str | None]] = {}
    statuses: dict[tuple[str, str], list[str | None]] = {}
    medians: dict[tuple[str, str, str], list[float]] = {}
    bands: dict[tuple[str, str, str], tuple[dict, str | None]] = {}
    for i, res in enumerate(runs):
        for e in res["entries"]:
            pair = (e["scenario"], e["client"])
            statuses.setdefault(pair, [None] * len(runs))[i] = e["status"]
            for c in e["checks"]:
                key = (*pair, c["id"])
                verdicts.setdefault(key, [None] * len(runs))[i] = c["verdict"]
                values = _numbers(c["observed"])
                if values and c.get("band"):
                    medians.setdefault(key, []).append(median(values))
                    bands[key] = (c["band"], c.get("unit"))
    flips = [
        {"scenario": k[0], "client": k[1], "check": k[2], "verdicts": v}
        for k, v in sorted(verdicts.items())
        if len({x for x in v if x is not None}) > 1
    ]
    status_flips = [
        {"scenario": k[0], "client": k[1], "statuses": v}
        for k, v in sorted(statuses.items())
        if len({x for x in v if x is not None}) > 1
    ]
    wide = []
    for key, ms in sorted(medians.items()):
        if len(ms) < 2:
            continue
        # The width of the band the check was judged against, slack included.
        band, unit = bands[key]
        tolerance = band["hi"] - band["lo"]
        spread = max(ms) - min(ms)
        if spread > tolerance:
            wide.append(
                {
                    "scenario": key[0],
                    "client": key[1],
                    "check": key[2],
                    "medians": [round(x, 3) for x in ms],
                    "spread": round(spread, 3),
                    "tolerance": round(tolerance, 3),
                    "unit": unit,
                }
            )
    return {
        "runs": len(runs),
        "run_ids": [r["run"]["id"] for r in runs],
        "checks_compared": len(verdicts),
        "timings_compared": sum(1 for m in medians.values() if len(m) > 1),
        "flips": flips,
        "status_flips": status_flips,
        "wide_timings": wide,
    }


def render_text(a: dict) -> str:
    n = a["runs"]
    head = (
        f"{n} runs, {a['checks_compared']} checks and {a['timings_compared']} timings compared: "
        f"{len(a['flips'])} verdicts flipped, {len(a['status_flips'])} statuses changed, "
        f"{len(a['wide_timings'])} timings spread wider than their tolerance band"
    )
    out = [head]
    if a["flips"]:
        out.append("Verdicts that flipped (run by run):")
        out += [
            f"  {f['scenario']} / {f['client']} / {f['check']}: {', '.join(str(v) for v in f['verdicts'])}"
            for f in a["flips"]
        ]
    if a["status_flips"]:
        out.append("Statuses that changed (run by run):")
        out += [
            f"  {f['scenario']} / {f['client']}: {', '.join(str(v) for v in f['statuses'])}" for f in a["status_flips"]
        ]
    if a["wide_timings"]:
        out.append("Timings whose per-run medians spread wider than the tolerance band:")
        out += [
            f"  {w['scenario']} / {w['client']} / {w['check']}: medians {w['medians']} {w['unit'] or ''}, "
            f"spread {w['spread']:g} > tolerance {w['tolerance']:g}"
            for w in a["wide_timings"]
        ]
    return "\n".join(out)
