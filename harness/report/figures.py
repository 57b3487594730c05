"""The figures of the HTML report: plain plotly figure dicts, built from the data.

`timeline_spec(entry)` draws an entry's timeline (a lane per client and per link,
fault windows shaded, message rates below); `values_spec(check)` a check's
observed numbers over the band it was judged against, as stored with it. Tests
validate both with plotly's own schema. The page (html.py) only embeds them.
"""

from __future__ import annotations

import math
from collections import Counter
from html import escape
from typing import Any

from harness.report.values import compact, is_number, num

VERDICT_COLOUR = {
    "conforms": "#1a7f37",
    "deviates": "#cf222e",
    "not-measured": "#6e7781",
    "holds": "#1a7f37",
    "violated": "#cf222e",
}

# Events drawn as markers, by (source, kind). Anything not listed is still drawn,
# with DEFAULT_STYLE, under its own kind: a new event kind needs no change here.
TICK = "line-ns-open"
STYLES: dict[tuple[str, str], tuple[str, int, str, str]] = {
    # (symbol, size, colour, legend label)
    ("client", "attempt"): (TICK, 18, "#0969da", "attempt (client)"),
    ("client", "attempt_failed"): ("x-thin-open", 9, "#cf222e", "attempt failed (client)"),
    ("client", "connection_details_cb"): (TICK, 13, "#8250df", "connection_details_cb (attempt)"),
    ("proxy", "conn_accepted"): (TICK, 18, "#e16f24", "conn accepted (wire)"),
    ("proxy", "conn_closed"): ("line-ew-open", 8, "#6e7781", "conn closed (wire)"),
    ("proxy", "upstream_connected"): ("circle-open", 5, "#e16f24", "upstream dialled (wire)"),
    ("proxy", "upstream_failed"): ("x-thin-open", 7, "#a40e26", "upstream failed (wire)"),
    ("client", "connected"): ("circle", 11, "#1a7f37", "connected"),
    ("client", "reconnected"): ("star", 14, "#2da44e", "reconnected"),
    ("client", "disconnected"): ("triangle-down", 11, "#bc4c00", "disconnected"),
    ("client", "closed"): ("square", 10, "#24292f", "closed"),
    ("client", "connect_failed"): ("x", 12, "#cf222e", "connect failed"),
    ("client", "servers_discovered"): ("diamond", 8, "#8250df", "servers discovered"),
    ("client", "reconnect_delay_cb"): ("triangle-right", 8, "#bf3989", "reconnect delay cb"),
    ("client", "backoff_next"): ("triangle-right-open", 8, "#953800", "backoff next"),
    ("client", "backoff_reset"): ("triangle-left-open", 8, "#953800", "backoff reset"),
    ("client", "link_opened"): ("circle-open", 8, "#0550ae", "link opened"),
    ("client", "subscribed"): ("circle-open", 7, "#1b7c83", "subscribed"),
    ("client", "async_error"): ("hexagram-open", 8, "#cf222e", "async error"),
    ("client", "driver_started"): ("square-open", 6, "#8c959f", "driver started"),
    ("client", "connect_started"): ("triangle-right-open", 6, "#8c959f", "connect started"),
    ("client", "stopped"): ("square-x-open", 7, "#8c959f", "stopped"),
    ("client", "lateness"): ("square-dot", 6, "#8c959f", "timer lateness"),
    ("proxy", "lateness"): ("square-dot", 6, "#8c959f", "proxy timer lateness"),
    ("harness", "mark"): ("diamond-tall", 9, "#57606a", "harness mark"),
}
DEFAULT_STYLE = ("circle-open", 7, "#57606a", "")
# Too many to draw one by one: counted per bin on a second row.
MESSAGE_KINDS = ("published", "publish_failed", "received", "settled")
MESSAGE_COLOUR = {"published": "#54aeff", "publish_failed": "#cf222e", "received": "#1a7f37", "settled": "#8250df"}
# Widest first, so that equal rates (published = settled = received) stay visible.
MESSAGE_WIDTH = {"published": 4.5, "publish_failed": 3, "settled": 2.5, "received": 1.5}
DASHES = ("solid", "dot", "dash", "dashdot")
# Shown as shaded windows instead.
SKIPPED_KINDS = {("harness", "fault_start"), ("harness", "fault_end")}
BIN_S = 0.1
LANE_PX = 30


def _sec(ns: int, t0: int) -> float:
    return round((ns - t0) / 1e9, 4)


def _hover(ev: dict, t0: int) -> str:
    lines = [f"<b>{escape(ev['kind'])}</b> · {escape(ev['actor'])} · {_sec(ev['t_ns'], t0):.4f} s"]
    for k, v in ev.items():
        if k in ("t_ns", "source", "actor", "kind") or v is None:
            continue
        lines.append(f"{escape(k)}: {escape(compact(v, 6, 160))}")
    return "<br>".join(lines)


def _lane(ev: dict) -> str:
    if ev["source"] == "proxy":
        return f"wire {ev.get('link') or ev['actor']}"
    return ev["actor"]


def timeline_spec(entry: dict) -> dict | None:
    """The entry's timeline: lanes of events over faults, and message rates below."""
    # The route sink only ever sees gossip-driven implicit routes failing on purpose
    # (docs/decisions.md): drawn, they bury the timeline. Counted in the title instead.
    roles = entry.get("link_roles") or {}
    sunk = [ev for ev in entry["events"] if ev["source"] == "proxy" and roles.get(ev.get("link")) == "sink"]
    events = [ev for ev in entry["events"] if not (ev["source"] == "proxy" and roles.get(ev.get("link")) == "sink")]
    if not events:
        return None
    t0 = entry["started_ns"]
    end_ns = max(entry["ended_ns"], events[-1]["t_ns"])
    duration = max(_sec(end_ns, t0), 0.001)

    # Lanes: the scenario's actors, any other client actor, the links seen on the
    # wire (the entry's client-facing links first), then the harness's marks.
    actors = list(entry["actors"])
    actors += [a for a in dict.fromkeys(ev["actor"] for ev in events if ev["source"] == "client") if a not in actors]
    wire = list(dict.fromkeys(ev.get("link") or ev["actor"] for ev in events if ev["source"] == "proxy"))
    order = {name: i for i, name in enumerate(entry["links"])}
    wire.sort(key=lambda w: (order.get(w, len(order)), w))
    lanes = actors + [f"wire {w}" for w in wire]
    if any(ev["source"] == "harness" and (ev["source"], ev["kind"]) not in SKIPPED_KINDS for ev in events):
        lanes.append("harness")

    points: dict[tuple[str, str], dict[str, list]] = {}
    bins: dict[tuple[str, str], Counter] = {}
    for ev in events:
        key = (ev["source"], ev["kind"])
        if key in SKIPPED_KINDS:
            continue
        if ev["source"] == "client" and ev["kind"] in MESSAGE_KINDS:
            bins.setdefault((ev["actor"], ev["kind"]), Counter())[max(0, int((ev["t_ns"] - t0) / 1e9 / BIN_S))] += 1
            continue
        p = points.setdefault(key, {"x": [], "y": [], "text": []})
        p["x"].append(_sec(ev["t_ns"], t0))
        p["y"].append(_lane(ev))
        p["text"].append(_hover(ev, t0))

    data: list[dict] = []
    known = list(STYLES)
    for key in sorted(points, key=lambda k: (known.index(k) if k in known else len(known), k)):
        symbol, size, colour, label = STYLES.get(key, DEFAULT_STYLE)
        p = points[key]
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": escape(label or f"{key[1]} ({key[0]})"),
                "x": p["x"],
                "y": p["y"],
                "text": p["text"],
                "hovertemplate": "%{text}<extra></extra>",
                "marker": {"symbol": symbol, "size": size, "color": colour, "line": {"width": 2, "color": colour}},
                "xaxis": "x",
                "yaxis": "y",
            }
        )

    with_messages = bool(bins)
    if with_messages:
        n = int(duration / BIN_S) + 1
        xs = [round(i * BIN_S, 1) for i in range(n)]
        msg_actors = list(dict.fromkeys(a for a, _ in bins))
        for (actor, kind), c in sorted(bins.items(), key=lambda kv: (msg_actors.index(kv[0][0]), kv[0][1])):
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": escape(f"{kind} · {actor} (per {BIN_S * 1000:g} ms)"),
                    "x": xs,
                    "y": [c.get(i, 0) for i in range(n)],
                    "line": {
                        "shape": "hv",
                        "width": MESSAGE_WIDTH.get(kind, 1.5),
                        "color": MESSAGE_COLOUR.get(kind, "#57606a"),
                        "dash": DASHES[msg_actors.index(actor) % len(DASHES)],
                    },
                    "hovertemplate": escape(f"{kind} by {actor}: ") + "%{y} in [%{x:.1f} s, +0.1 s)<extra></extra>",
                    "xaxis": "x",
                    "yaxis": "y2",
                }
            )

    lanes_px = LANE_PX * len(lanes) + 20
    msg_px = 150 if with_messages else 0
    gap_px = 28 if with_messages else 0
    plot_px = lanes_px + msg_px + gap_px
    # The legend goes below the x axis: about 7 px per character and 45 per item, on ~1100 px.
    legend_px = sum(45 + 7 * len(t["name"]) for t in data)
    top, bottom = 34, 50 + 20 * math.ceil(legend_px / 1100)
    shapes, annotations = [], []
    for f in entry["faults"]:
        x0 = _sec(f["start_ns"], t0)
        x1 = _sec(f["end_ns"], t0) if f.get("end_ns") is not None else duration
        label = f"{f['kind']} {f['target']}"
        if f.get("end_ns") is None:
            label += " (never healed)"
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": x0,
                "x1": x1,
                "y0": 0,
                "y1": 1,
                "fillcolor": "rgba(207,34,46,0.10)",
                "line": {"width": 1, "color": "rgba(207,34,46,0.45)", "dash": "dot"},
                "layer": "below",
            }
        )
        annotations.append(
            {
                "xref": "x",
                "yref": "paper",
                "x": x0,
                "y": 1,
                "xanchor": "left",
                "yanchor": "bottom",
                "showarrow": False,
                "text": escape(label),
                "font": {"size": 11, "color": "#a40e26"},
            }
        )
    lane_domain = [(msg_px + gap_px) / plot_px, 1.0] if with_messages else [0.0, 1.0]
    layout: dict[str, Any] = {
        "height": plot_px + top + bottom,
        "margin": {"l": 130, "r": 20, "t": top, "b": bottom},
        "hovermode": "closest",
        "showlegend": True,
        "legend": {
            "orientation": "h",
            "font": {"size": 11},
            "x": 0,
            "xanchor": "left",
            "yref": "container",
            "y": 0,
            "yanchor": "bottom",
        },
        "xaxis": {
            "title": {
                "text": "seconds since the entry started"
                + (f" ({len(sunk)} route-sink events not drawn)" if sunk else ""),
                "font": {"size": 12},
            },
            "range": [-0.02 * duration, duration * 1.01],
            "anchor": "y2" if with_messages else "y",
            "zeroline": False,
            "showgrid": True,
            "gridcolor": "#eaeef2",
        },
        "yaxis": {
            "type": "category",
            "categoryorder": "array",
            "categoryarray": lanes,
            "range": [len(lanes) - 0.5, -0.5],
            "domain": lane_domain,
            "fixedrange": True,
            "gridcolor": "#eaeef2",
            "tickfont": {"size": 12},
        },
        "shapes": shapes,
        "annotations": annotations,
        "plot_bgcolor": "#ffffff",
        "paper_bgcolor": "#ffffff",
    }
    if with_messages:
        layout["yaxis2"] = {
            "domain": [0.0, msg_px / plot_px],
            "title": {"text": f"msgs / {BIN_S * 1000:g} ms", "font": {"size": 11}},
            "rangemode": "tozero",
            "gridcolor": "#eaeef2",
            "anchor": "x",
        }
    return {"data": data, "layout": layout}


def values_spec(check: dict) -> dict:
    """A check's observed numbers by index, over its documented band (and the
    measurement slack around it, for bands in ms), log-y when they span > 100x."""
    vals = check["observed"]
    n = len(vals)
    unit = check.get("unit") or ""
    band = check.get("band")
    positive = [v for v in vals if v > 0]
    log = len(positive) == n and max(vals) / min(vals) > 100
    data: list[dict] = []
    outer = None
    if band:
        # The band the check was judged against, as stored with it: never recomputed.
        lo, hi = band["documented"]
        outer = (band["lo"], band["hi"])
        floor = min(v for v in [*positive, *(b for b in (lo, hi, *outer) if b > 0)]) / 2 if log else None
        xs = [0.5, n + 0.5, n + 0.5, 0.5, 0.5]

        def poly(a: float, b: float) -> list[float]:
            if floor is not None:
                a, b = max(a, floor), max(b, floor)
            return [a, a, b, b, a]

        if outer != (lo, hi):
            data.append(
                {
                    "type": "scatter",
                    "x": xs,
                    "y": poly(*outer),
                    "fill": "toself",
                    "fillcolor": "rgba(212,167,44,0.16)",
                    "line": {"width": 0},
                    "mode": "lines",
                    "name": f"+ slack [{num(outer[0])}, {num(outer[1])}]",
                    "hoverinfo": "skip",
                }
            )
        data.append(
            {
                "type": "scatter",
                "x": xs,
                "y": poly(lo, hi),
                "fill": "toself",
                "fillcolor": "rgba(26,127,55,0.20)",
                "line": {"width": 1, "color": "rgba(26,127,55,0.5)"},
                "mode": "lines",
                "name": f"documented [{num(lo)}, {num(hi)}]",
                "hoverinfo": "skip",
            }
        )
    elif is_number(check.get("documented")):
        d = check["documented"]
        data.append(
            {
                "type": "scatter",
                "x": [0.5, n + 0.5],
                "y": [d, d],
                "mode": "lines",
                "line": {"dash": "dash", "color": "#1a7f37", "width": 1.5},
                "name": f"documented {num(d)}",
                "hoverinfo": "skip",
            }
        )
    colours = ["#cf222e" if outer is not None and not outer[0] <= v <= outer[1] else "#0969da" for v in vals]
    data.append(
        {
            "type": "scatter",
            "mode": "lines+markers",
            "x": list(range(1, n + 1)),
            "y": vals,
            "name": "observed",
            "line": {"color": "#8c959f", "width": 1},
            "marker": {"color": colours, "size": 8},
            "hovertemplate": "#%{x}: %{y} " + escape(unit) + "<extra></extra>",
        }
    )
    return {
        "data": data,
        "layout": {
            "height": 250,
            "margin": {"l": 60, "r": 10, "t": 34, "b": 36},
            "title": {
                "text": f"{escape(check['id'])} · {escape(check['verdict'])}",
                "font": {"size": 13, "color": VERDICT_COLOUR.get(check["verdict"], "#24292f")},
                "x": 0.01,
                "xanchor": "left",
            },
            "showlegend": True,
            "legend": {"orientation": "h", "y": -0.18, "font": {"size": 10}},
            "xaxis": {"dtick": 1 if n <= 20 else None, "range": [0.5, n + 0.5], "zeroline": False},
            "yaxis": {
                "type": "log" if log else "linear",
                # Without a band, from zero: a flat series must look flat.
                "rangemode": "normal" if band or log else "tozero",
                "title": {"text": escape(unit), "font": {"size": 11}},
                "gridcolor": "#eaeef2",
            },
            "plot_bgcolor": "#ffffff",
        },
    }


# A storm's histogram (scenarios/storm.py): the metric holding its times, and how each is drawn.
STORM_METRIC = "storm_times_ms"
STORM_SERIES = {"first_attempts": ("first reconnect attempt", "#0969da"), "reconnects": ("reconnected", "#2da44e")}


def storm_spec(entry: dict) -> dict | None:
    """A reconnect storm over time: how many connections made their first attempt,
    and how many were back, in each bin after the fault began; None if the entry
    recorded no storm."""
    times = entry.get("metrics", {}).get(STORM_METRIC)
    if not isinstance(times, dict) or not any(times.get(k) for k in STORM_SERIES):
        return None
    size = times.get("bin_ms") or 10.0
    data = [
        {
            "type": "histogram",
            "x": times[key],
            "name": f"{label} ({len(times[key])})",
            "xbins": {"size": size},
            "marker": {"color": colour},
            "opacity": 0.75,
            "hovertemplate": "%{x} ms: %{y} connections<extra>" + escape(label) + "</extra>",
        }
        for key, (label, colour) in STORM_SERIES.items()
        if times.get(key)
    ]
    return {
        "data": data,
        "layout": {
            "height": 300,
            "barmode": "overlay",
            "margin": {"l": 50, "r": 20, "t": 30, "b": 40},
            "xaxis": {"title": {"text": f"ms after the fault began ({num(size)} ms bins)"}},
            "yaxis": {"title": {"text": "connections"}},
            "legend": {"orientation": "h", "y": 1.12},
        },
    }
