"""The HTML report of a run: the page, its sections and its style.

Everything shown is driven by the data: clients, scenarios, checks, metrics, event
kinds and links come from results.json, so a new client library or a new metric
appears without touching this module. What the page shows of each entry (its
outcome, labels, anchors) comes from model.py, shared with the Markdown summary;
values become text in values.py; the figures are built in figures.py.

Charts are plotly figures kept as JSON in <script type="application/json"> blocks
and drawn by one small script after load (open sections first), so the page is
readable at once and each figure's data is embedded exactly once. plotly.js itself
is loaded from PLOTLY_JS beside the page (written by harness.report.write), or
inlined when a self-contained page is asked for; a page without figures loads none.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from html import escape
from typing import Any

from harness.judging.judge import ALL_VERDICTS as VERDICTS
from harness.judging.judge import FINDINGS
from harness.report import model
from harness.report.figures import storm_spec, timeline_spec, values_spec
from harness.report.model import check_anchor, entry_anchor, families, family_clients, replay_command, slug
from harness.report.values import band_text, compact, int_ranges, num, number_list, units

# The plotting library, one file beside the page (see docs/decisions.md, "One plotly.js per report folder").
PLOTLY_JS = "plotly.min.js"


CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg2:#f6f8fa;
  --c:#1a7f37; --cb:#dafbe1; --d:#cf222e; --db:#ffebe9; --n:#59636e; --nb:#eff2f5; --e:#8a4600; --eb:#fff1d6; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--fg); margin: 0; background: #fff; }
main { max-width: 1500px; margin: 0 auto; padding: 20px 28px 60px; }
h1 { font-size: 24px; margin: 0 0 6px; }
h2 { font-size: 19px; margin: 34px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
 h3 { font-size: 16px; margin: 22px 0 6px; } h4 { font-size: 14px; margin: 14px 0 6px; }
code { overflow-wrap: anywhere; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
pre { background: var(--bg2); padding: 8px 10px; border-radius: 6px; overflow-x: auto; margin: 4px 0; }
a { color: #0969da; text-decoration: none; } a:hover { text-decoration: underline; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: var(--bg2); font-weight: 600; }
.muted { color: var(--muted); } .small { font-size: 12.5px; }
.banner { background: var(--db); border: 1px solid var(--d); color: #82071e; padding: 10px 14px; border-radius: 6px;
  font-weight: 600; margin: 10px 0; }
.note { background: var(--eb); border: 1px solid #d4a72c; padding: 6px 10px; border-radius: 6px; margin: 6px 0; }
.err { background: var(--db); border: 1px solid var(--d); padding: 6px 10px; border-radius: 6px; margin: 6px 0; }
.kv > tbody > tr > th { width: 1%; white-space: nowrap; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 8px 24px; }
.v { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 12px; font-weight: 600;
  white-space: nowrap; }
.v-conforms { background: var(--cb); color: var(--c); } .v-deviates { background: var(--db); color: var(--d); }
.v-not-measured { background: var(--nb); color: var(--n); }
.v-holds { background: var(--cb); color: var(--c); } .v-violated { background: var(--db); color: var(--d); }
.v-not-applicable, .v-skipped, .v-metrics-only { background: #f6f8fa; color: #8c959f; }
.v-error, .v-interrupted { background: var(--eb); color: var(--e); }
.v-none, .v-not-run { color: #afb8c1; font-weight: 400; }
table.matrix td.cell { text-align: center; } table.matrix td.scn { font-weight: 600; }
table.matrix tr.first td { border-top: 2px solid #afb8c1; }
table.matrix td.cid { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; }
details.entry { border: 1px solid var(--line); border-radius: 8px; margin: 8px 0; background: #fff; }
details.entry > summary { cursor: pointer; padding: 8px 12px; background: var(--bg2); border-radius: 8px;
  list-style-position: inside; }
details.entry[open] > summary { border-bottom: 1px solid var(--line); border-radius: 8px 8px 0 0; }
details.entry > .body { padding: 4px 14px 14px; }
details.dev { border-color: #ff8182; } details.dev > summary { background: #fff5f5; }
details.bad { border-color: #d4a72c; } details.bad > summary { background: #fff8e6; }
summary .client { font-weight: 700; font-size: 15px; }
table.checks { width: 100%; table-layout: fixed; }
table.checks td { overflow-wrap: break-word; }
.checks .w-id { width: 15%; } .checks .w-v { width: 8.5em; } .checks .w-doc { width: 13%; }
.checks .w-obs { width: 17%; }
.checks .w-unit { width: 7em; } .checks .w-band { width: 7.5em; }
.quote { color: var(--muted); font-size: 12px; border-left: 3px solid var(--line); padding-left: 8px; margin-top: 4px; }
tr.row-deviates > td:first-child, tr.row-violated > td:first-child { box-shadow: inset 3px 0 0 var(--d); }
:target, tr:target > td { background: #fff8c5 !important; }
.chip { display: inline-block; border-radius: 10px; padding: 0 8px; margin: 1px 2px; font-size: 12px;
  font-family: ui-monospace, Menlo, Consolas, monospace; color: #fff; }
.chiprow { margin: 2px 0; }
.chiprow .idx { color: var(--muted); font-size: 11.5px; display: inline-block; min-width: 34px; }
.plot { width: 100%; min-height: 80px; }
.ledger td.num, .ledger th + th { text-align: right; } .ledger td.hot { color: var(--d); font-weight: 700; }
.toolbar { position: sticky; top: 0; background: rgba(255,255,255,.95); border-bottom: 1px solid var(--line);
  padding: 6px 0; z-index: 5; font-size: 13px; }
.toolbar button { font: inherit; padding: 1px 8px; margin-left: 6px; }
.scenario-summary { color: var(--muted); margin: 0 0 6px; }
ul.devs li { margin-bottom: 5px; }
"""

SCRIPT = """
(function () {
  var cfg = {displaylogo: false, responsive: true, modeBarButtonsToRemove: ['select2d', 'lasso2d']};
  function draw(div) {
    if (div.getAttribute('data-drawn')) return;
    div.setAttribute('data-drawn', '1');
    var spec = JSON.parse(document.getElementById(div.getAttribute('data-spec')).textContent);
    Plotly.newPlot(div, spec.data, spec.layout, cfg);
  }
  function isOpen(el) {
    for (var p = el.parentElement; p; p = p.parentElement) if (p.tagName === 'DETAILS' && !p.open) return false;
    return true;
  }
  var divs = Array.prototype.slice.call(document.querySelectorAll('div.plot[data-spec]'));
  var queue = divs.filter(isOpen).concat(divs.filter(function (d) { return !isOpen(d); }));
  var i = 0;
  function step() {
    var t = Date.now();
    while (i < queue.length && Date.now() - t < 60) draw(queue[i++]);
    if (i < queue.length) setTimeout(step, 0);
    else document.body.setAttribute('data-plots-drawn', String(queue.length));
  }
  document.addEventListener('toggle', function (ev) {
    var d = ev.target;
    if (d.tagName !== 'DETAILS' || !d.open) return;
    d.querySelectorAll('div.plot[data-spec]').forEach(function (p) {
      if (p.getAttribute('data-drawn')) Plotly.Plots.resize(p); else draw(p);
    });
  }, true);
  function reveal() {
    var id = decodeURIComponent(location.hash.slice(1));
    var el = id && document.getElementById(id);
    if (!el) return;
    for (var p = el; p; p = p.parentElement) if (p.tagName === 'DETAILS') p.open = true;
    el.scrollIntoView({block: 'center'});
  }
  window.addEventListener('hashchange', reveal);
  document.getElementById('expand-all').onclick = function () {
    document.querySelectorAll('details.entry').forEach(function (d) { d.open = true; });
  };
  document.getElementById('collapse-all').onclick = function () {
    document.querySelectorAll('details.entry').forEach(function (d) { d.open = false; });
  };
  reveal();
  setTimeout(step, 0);
})();
"""


def _e(v: Any) -> str:
    return escape(str(v), quote=True)


def _badge(state: str, text: str | None = None, href: str | None = None, title: str | None = None) -> str:
    """A coloured label for a verdict or an outcome (its label from model.OUTCOMES, unless `text`)."""
    t = f' title="{_e(title)}"' if title else ""
    shown = model.OUTCOMES[state].label if state in model.OUTCOMES else state
    label = _e(text if text is not None else shown)
    cls = f"v v-{_e(state)}"
    if href:
        return f'<a class="{cls}" href="#{_e(href)}"{t}>{label}</a>'
    return f'<span class="{cls}"{t}>{label}</span>'


def _json_script(spec: dict) -> str:
    text = json.dumps(spec, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class _Plots:
    """Collects the page's figures: each a div plus its JSON spec, embedded once."""

    def __init__(self) -> None:
        self.n = 0

    def div(self, spec: dict, css_class: str = "") -> str:
        self.n += 1
        pid = f"plot-{self.n}"
        height = spec["layout"].get("height", 300)
        return (
            f'<div class="plot {css_class}" id="{pid}" data-spec="{pid}-spec" style="height:{height}px"></div>'
            f'<script type="application/json" id="{pid}-spec">{_json_script(spec)}</script>'
        )


def _kv_table(rows: list[tuple[str, str]], cls: str = "kv") -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="{cls}">{body}</table>'


def _header(results: dict) -> str:
    run = results["run"]
    entries = results["entries"]
    out = [f"<h1>Fault harness report <span class='muted mono'>run {_e(run['id'])}</span></h1>"]
    if not results["complete"]:
        out.append(
            '<div class="banner">INCOMPLETE: the run was interrupted; the results hold only what finished '
            f"({len(entries)} entries).</div>"
        )
    loaded = model.run_noise(entries)
    if loaded["line"]:
        css = "banner" if loaded["too_loaded"] else "note"
        out.append(f'<div class="{css}">{_e(loaded["line"])}.</div>')
    total = model.total_counts(entries)
    errors = sum(1 for e in entries if model.result(e) == "error")
    out.append(
        "<p>"
        + " ".join(_badge(v, f"{total[v]} {v}") for v in VERDICTS)
        + f" <span class='muted'>over {len(entries)} scenario × client entries"
        + (f", {_badge('error', f'{errors} harness error' + ('s' if errors != 1 else ''))}" if errors else "")
        + "</span></p>"
    )
    host = run.get("host") or {}
    host_s = ", ".join(f"{k} {v}" for k, v in host.items())
    rows = [
        ("started", _e(run["started_at"])),
        ("finished", _e(run.get("finished_at") or "—")),
        ("complete", "yes" if results["complete"] else "<b>no (interrupted)</b>"),
        ("backend", _e(run["backend"])),
        ("harness", _e(run["harness_version"])),
        ("base seed", _e(run.get("seed"))),
        ("command", f"<code>{_e(run['command'])}</code>"),
        ("host", _e(host_s)),
    ]
    if run.get("options"):
        rows.append(("options file", f"<code>{_e(compact(run['options'], 20, 1000))}</code>"))
    out.append('<div class="grid2"><div>' + _kv_table(rows) + "</div><div>" + _versions(entries) + "</div></div>")
    return "\n".join(out)


def _versions(entries: list[dict]) -> str:
    clients: dict[str, dict[str, Any]] = {}
    servers: dict[str, Counter] = defaultdict(Counter)
    for e in entries:
        c = clients.setdefault(e["client"], {"library": e["library"], "versions": Counter(), "families": {}})
        c["versions"][e["client_version"]] += 1
        c["families"][e["family"]] = None
        for k, v in e["server_versions"].items():
            servers[k][v] += 1
    rows = "".join(
        f"<tr><td><b>{_e(name)}</b></td><td class='mono'>{_e(c['library'])}</td>"
        f"<td class='mono'>{_e(', '.join(c['versions']))}</td><td>{_e(', '.join(c['families']))}</td></tr>"
        for name, c in sorted(clients.items())
    )
    srows = "".join(
        f"<tr><td><b>{_e(name)}</b></td><td class='mono'>{_e(', '.join(vs))}</td></tr>"
        for name, vs in sorted(servers.items())
    )
    return (
        "<table class='versions'><tr><th>client</th><th>library</th><th>version</th><th>family</th></tr>"
        + rows
        + "</table><table class='versions'><tr><th>server</th><th>version</th></tr>"
        + srows
        + "</table>"
    )


# Outcomes without verdicts, counted per client in the tally (entries, not checks).
TALLIED = ("not-applicable", "metrics-only", "skipped", "error", "interrupted")


def _tally(entries: list[dict]) -> str:
    head = "".join(f"<th>{_badge(v)}</th>" for v in (*VERDICTS, *TALLIED))
    rows = []
    for client in model.all_clients(entries):
        mine = [e for e in entries if e["client"] == client]
        c = model.total_counts(mine)
        outcomes = Counter(model.result(e) for e in mine)
        cells = "".join(f"<td class='num'>{c[v]}</td>" for v in VERDICTS)
        cells += "".join(f"<td class='num'>{outcomes[o]}</td>" for o in TALLIED)
        rows.append(f"<tr><td><b>{_e(client)}</b></td>{cells}<td class='num'>{len(mine)}</td></tr>")
    return (
        f"<table class='tally'><tr><th>client</th>{head}<th>entries</th></tr>{''.join(rows)}</table>"
        f"<p class='small muted'>checks per verdict, then entries per outcome that judged nothing "
        f"({_e(model.legend(TALLIED))}); the reason of each is in its entry.</p>"
    )


def _fates(entries: list[dict]) -> str:
    """Client x kind of fault: the fates of every message (what the invariants counted)."""
    matrix = model.fates(entries)
    if not matrix:
        return ""
    clients = model.all_clients(entries)
    head = "".join(f"<th>{_e(c)}</th>" for c in clients)
    rows = []
    for kind, by in matrix.items():
        cells = []
        for c in clients:
            v = by.get(c)
            if v is None:
                cells.append("<td class='muted'>·</td>")
                continue
            bad = " class='dev'" if v["lost_silently"] or v["duplicated"] else ""
            cells.append(f"<td{bad}>" + " / ".join(str(v[x]) for x in model.FATE_COLUMNS) + "</td>")
        rows.append(f"<tr><th class='mono'>{_e(kind)}</th>{''.join(cells)}</tr>")
    return (
        "<h3>Message fates</h3><p class='small muted'>per kind of fault: accepted / delivered / lost silently / "
        "lost and reported / duplicated</p>"
        f"<table class='tally'><tr><th>fault</th>{head}</tr>{''.join(rows)}</table>"
    )


def _deviations(entries: list[dict]) -> str:
    items = []
    for e in entries:
        for c in e["checks"]:
            if c["verdict"] not in FINDINGS:
                continue
            unit, ounit = units(c)
            items.append(
                f"<li><a href='#{_e(check_anchor(e, c['id']))}'><b>{_e(e['scenario'])}</b> / {_e(e['client'])} / "
                f"<code>{_e(c['id'])}</code></a>: documented <code>{_e(compact(c['documented']))}{_e(unit)}</code>, "
                f"observed <code>{_e(compact(c['observed']))}{_e(ounit)}</code>"
                f"<div class='small muted'>{_e(c['detail'])}</div></li>"
            )
    errs = [
        f"<li><a href='#{_e(entry_anchor(e))}'><b>{_e(e['scenario'])}</b> / {_e(e['client'])}</a>: "
        f"{_badge(model.result(e))} {_e(model.reason(e))}</li>"
        for e in entries
        if model.failed(e)
    ]
    out = []
    if items:
        out.append(f"<h3>Deviations from the documentation ({len(items)})</h3><ul class='devs'>{''.join(items)}</ul>")
    if errs:
        out.append(f"<h3>Harness errors (environment, not verdicts) ({len(errs)})</h3><ul>{''.join(errs)}</ul>")
    return "".join(out)


def _matrix(entries: list[dict]) -> str:
    out = []
    for family, scenarios in families(entries).items():
        clients = family_clients(scenarios)
        head = "".join(f"<th>{_e(c)}</th>" for c in clients)
        rows = []
        for scenario, by_client in scenarios.items():
            ids: list[str | None] = list(model.check_ids(by_client)) or [None]
            summary = next(iter(by_client.values()))["description"]
            for i, cid in enumerate(ids):
                cells = []
                for client in clients:
                    e = by_client.get(client)
                    state = model.cell_state(e, cid)
                    if e is None:
                        cells.append(f"<td class='cell'>{_badge('not-run', '·', title='not run')}</td>")
                    elif state in VERDICTS:
                        cells.append(f"<td class='cell'>{_badge(state, href=check_anchor(e, cid))}</td>")
                    elif state == "none":
                        cells.append(
                            f"<td class='cell'>{_badge('none', '—', title='no such check for this client')}</td>"
                        )
                    else:
                        why = model.reason(e) or model.label(state)
                        cells.append(f"<td class='cell'>{_badge(state, href=entry_anchor(e), title=why)}</td>")
                scn = (
                    f"<td class='scn' rowspan='{len(ids)}' title='{_e(summary)}'>"
                    f"<a href='#s-{_e(slug(scenario))}'>{_e(scenario)}</a></td>"
                    if i == 0
                    else ""
                )
                rows.append(
                    f"<tr class='{'first' if i == 0 else ''}'>{scn}<td class='cid'>{_e(cid or '—')}</td>"
                    f"{''.join(cells)}</tr>"
                )
        out.append(
            f"<h3>{_e(family)}</h3><table class='matrix'><tr><th>scenario</th><th>check</th>{head}</tr>"
            f"{''.join(rows)}</table>"
        )
    out.append(
        "<p class='small muted'>Each verdict links to its evidence. "
        f"{_e(model.legend(('not-applicable', 'metrics-only', 'skipped', 'error')))}; "
        "—: the check does not apply to that client.</p>"
    )
    return "\n".join(out)


# -- one entry


def _actors(entry: dict) -> str:
    rows = []
    for name, a in entry["actors"].items():
        opts = a.get("options") or {}
        opts_s = _e(compact(opts, 20, 600)) if opts else "<span class='muted'>library defaults</span>"
        wl = {k: v for k, v in (a.get("workload") or {}).items() if v not in (None, False, 0, "", {}, [])}
        rows.append(
            f"<tr><td><b>{_e(name)}</b></td><td class='mono'>{_e(', '.join(map(str, a.get('links') or [])))}</td>"
            f"<td class='mono small'>{_e(', '.join(map(str, a.get('servers') or [])))}</td>"
            f"<td class='mono'>{opts_s}</td>"
            f"<td class='mono small'>{_e(compact(wl, 10, 300)) if wl else ''}</td></tr>"
        )
    return (
        "<table class='actors'><tr><th>actor</th><th>links</th><th>servers</th><th>options</th><th>workload</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _links_faults(entry: dict) -> str:
    t0 = entry["started_ns"]
    colours = _link_colours(entry)
    links = " ".join(
        f"<span class='chip' style='background:{colours[k]}' title='{_e(u)}'>{_e(k)}</span>"
        f"<span class='mono small muted'>{_e(u)}</span>"
        for k, u in entry["links"].items()
    )
    out = [f"<p><b>links</b> {links}</p>"]
    if entry["faults"]:
        rows = []
        for f in entry["faults"]:
            end = f"{(f['end_ns'] - t0) / 1e9:.3f}" if f.get("end_ns") is not None else "never (to the end)"
            lag = []
            if f.get("applied_ns") is not None:
                lag.append(f"applied +{(f['applied_ns'] - f['start_ns']) / 1e6:.1f} ms")
            if f.get("reverted_ns") is not None and f.get("end_ns") is not None:
                lag.append(f"reverted +{(f['reverted_ns'] - f['end_ns']) / 1e6:.1f} ms")
            rows.append(
                f"<tr><td><b>{_e(f['kind'])}</b></td><td class='mono'>{_e(f['target'])}</td>"
                f"<td class='mono'>{_e(compact(f['params'])) if f['params'] else ''}</td>"
                f"<td class='num'>{(f['start_ns'] - t0) / 1e9:.3f}</td><td class='num'>{_e(end)}</td>"
                f"<td class='small muted'>{_e(', '.join(lag))}</td></tr>"
            )
        out.append(
            "<table class='faults'><tr><th>fault</th><th>target</th><th>params</th><th>start (s)</th>"
            "<th>end (s)</th><th></th></tr>" + "".join(rows) + "</table>"
        )
    else:
        out.append("<p class='muted'>no faults</p>")
    if entry.get("schedules"):
        out.append(f"<p class='small'><b>schedules</b> <code>{_e(compact(entry['schedules'], 10, 800))}</code></p>")
    return "".join(out)


PALETTE = ("#0969da", "#e16f24", "#1a7f37", "#8250df", "#bf3989", "#1b7c83", "#9a6700", "#57606a")


def _link_colours(entry: dict) -> dict[str, str]:
    # Links named like "n1-client" and "n1-observer" share their server's colour.
    servers = list(dict.fromkeys(k.split("-")[0] for k in entry["links"]))
    return {k: PALETTE[servers.index(k.split("-")[0]) % len(PALETTE)] for k in entry["links"]}


def _checks(entry: dict, plots: _Plots) -> str:
    if not entry["checks"]:
        return "<p class='muted'>no checks</p>"
    rows = []
    charts = []
    for c in entry["checks"]:
        src = c["source"]
        band = band_text(c["band"]) if c.get("band") else ""
        rows.append(
            f"<tr id='{_e(check_anchor(entry, c['id']))}' class='row-{_e(c['verdict'])}'>"
            f"<td class='mono'><a href='#{_e(check_anchor(entry, c['id']))}'>{_e(c['id'])}</a></td>"
            f"<td>{_badge(c['verdict'])}</td>"
            f"<td class='mono'>{_e(compact(c['documented']))}</td>"
            f"<td class='mono obs'>{_e(compact(c['observed']))}</td>"
            f"<td>{_e(c['unit'] or '')}</td><td class='mono'>{_e(band)}</td>"
            f"<td class='detail'>{_e(c['detail'])}"
            f"<div class='quote'>“{_e(src['quote'])}” — {_e(src['document'])} "
            f"<span class='mono'>({_e(src['file'])})</span></div></td></tr>"
        )
        if number_list(c["observed"]):
            charts.append(plots.div(values_spec(c)))
    table = (
        "<table class='checks'><tr><th class='w-id'>check</th><th class='w-v'>verdict</th>"
        "<th class='w-doc'>documented</th><th class='w-obs'>observed</th><th class='w-unit'>unit</th>"
        "<th class='w-band'>band</th><th>detail and source</th></tr>" + "".join(rows) + "</table>"
    )
    if charts:
        table += "<div class='grid2'>" + "".join(f"<div>{c}</div>" for c in charts) + "</div>"
    return table


def _is_ledger(v: Any) -> bool:
    return isinstance(v, dict) and all(k in v for k in ("phases", "totals", "exceptions"))


def _is_summary(v: Any) -> bool:
    return isinstance(v, dict) and set(v) == {"n", "min", "median", "max"}


def _is_links(v: Any, links: dict) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, str) and x in links for x in v)


def _chips(names: list[str], colours: dict[str, str]) -> str:
    return "".join(f"<span class='chip' style='background:{colours[n]}'>{_e(n)}</span>" for n in names)


LEDGER_FATES = ("delivered", "lost", "duplicated", "refused", "refused_but_delivered")
BAD_FATES = {"lost", "duplicated", "refused_but_delivered"}


def _ledger(v: dict) -> str:
    phases = v["phases"] if isinstance(v["phases"], dict) else {}
    totals = v["totals"] if isinstance(v["totals"], dict) else {}
    seen = {k for p in phases.values() if isinstance(p, dict) for k in p} | set(totals)
    fates = [f for f in LEDGER_FATES if f in seen] + sorted(seen - set(LEDGER_FATES))
    head = "".join(f"<th>{_e(f)}</th>" for f in fates)

    def row(name: str, counts_: dict, bold: bool = False) -> str:
        cells = "".join(
            f"<td class='num{' hot' if f in BAD_FATES and counts_.get(f) else ''}'>{_e(counts_.get(f, 0))}</td>"
            for f in fates
        )
        label = f"<b>{_e(name)}</b>" if bold else _e(name)
        return f"<tr><td>{label}</td>{cells}</tr>"

    rows = "".join(row(p, c if isinstance(c, dict) else {}) for p, c in phases.items())
    rows += row("total", totals, bold=True)
    others = {k: x for k, x in v.items() if k not in ("phases", "totals", "exceptions")}
    out = f"<table class='ledger'><tr><th>phase</th>{head}</tr>{rows}</table>"
    if others:
        out += f"<div class='small'>{_e(', '.join(f'{k} {compact(x)}' for k, x in others.items()))}</div>"
    exc = v["exceptions"] if isinstance(v["exceptions"], dict) else {}
    for kind, seqs in exc.items():
        if isinstance(seqs, list) and all(isinstance(s, int) for s in seqs):
            listed = ", ".join(int_ranges(sorted(seqs)))
            total = totals.get(kind)
            more = f" (first {len(seqs)} of {total})" if isinstance(total, int) and total > len(seqs) else ""
            out += f"<div class='small'><b>{_e(kind)}</b> seq{more}: <span class='mono'>{_e(listed)}</span></div>"
        else:
            out += f"<div class='small'><b>{_e(kind)}</b>: <span class='mono'>{_e(compact(seqs))}</span></div>"
    return out


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | float | str)


def _cell_text(row: dict, col: str) -> str:
    return compact(row[col]) if col in row else ""


def metric_html(v: Any, entry: dict) -> str:
    """One metric value, rendered by its shape (never by its name)."""
    links = entry["links"]
    if number_list(v) and len(v) > 12:
        ordered = sorted(v)
        mid = ordered[len(v) // 2] if len(v) % 2 else (ordered[len(v) // 2 - 1] + ordered[len(v) // 2]) / 2
        return (
            f"<span class='mono'>{_e(compact(v, 12, 400))}</span> <span class='muted small'>min {_e(num(ordered[0]))}"
            f" · median {_e(num(mid))} · max {_e(num(ordered[-1]))}</span>"
        )
    if isinstance(v, str) and v in links:
        return _chips([v], _link_colours(entry))
    if _scalar(v):
        return f"<span class='mono'>{_e(compact(v, 8, 400))}</span>"
    if _is_ledger(v):
        return _ledger(v)
    if _is_summary(v):
        return (
            f"<span class='mono'>n={_e(compact(v['n']))} · min {_e(compact(v['min']))} · "
            f"median {_e(compact(v['median']))} · max {_e(compact(v['max']))}</span>"
        )
    if _is_links(v, links):
        return _chips(v, _link_colours(entry))
    if isinstance(v, list) and v and all(isinstance(x, list) and (not x or _is_links(x, links)) for x in v):
        colours = _link_colours(entry)
        return "".join(
            f"<div class='chiprow'><span class='idx'>{i}</span>{_chips(x, colours)}</div>" for i, x in enumerate(v, 1)
        )
    if isinstance(v, dict) and v and all(_scalar(x) for x in v.values()):
        return "<span class='mono'>" + " · ".join(f"{_e(k)}: {_e(compact(x))}" for k, x in v.items()) + "</span>"
    if (
        isinstance(v, dict)
        and v
        and all(isinstance(x, dict) and all(_scalar(y) for y in x.values()) for x in v.values())
    ):
        cols = list(dict.fromkeys(k for x in v.values() for k in x))
        head = "".join(f"<th>{_e(c)}</th>" for c in cols)
        body = "".join(
            f"<tr><td>{_e(k)}</td>" + "".join(f"<td class='num'>{_e(_cell_text(x, c))}</td>" for c in cols) + "</tr>"
            for k, x in v.items()
        )
        return f"<table class='ledger'><tr><th></th>{head}</tr>{body}</table>"
    if (
        isinstance(v, dict)
        and v
        and all(_scalar(x) or (isinstance(x, list) and all(_scalar(y) for y in x)) for x in v.values())
    ):
        return "".join(f"<div class='mono'>{_e(k)}: {_e(compact(x, 12, 400))}</div>" for k, x in v.items())
    text = json.dumps(v, separators=(",", ":"), default=str)
    if len(text) > 600:
        text = text[:599] + f"… ({len(text)} chars)"
    return f"<code>{_e(text)}</code>"


def _metrics(entry: dict) -> str:
    if not entry["metrics"]:
        return "<p class='muted'>no metrics</p>"
    rows = "".join(
        f"<tr><th class='mono'>{_e(k)}</th><td>{metric_html(v, entry)}</td></tr>" for k, v in entry["metrics"].items()
    )
    return f"<table class='kv metrics'>{rows}</table>"


def _entry(entry: dict, plots: _Plots) -> str:
    result, reason, c = model.result(entry), model.reason(entry), model.counts(entry)
    state = "bad" if result in model.FAILED else "dev" if model.is_finding(entry) else "ok"
    is_open = " open" if state != "ok" else ""
    judged = result in model.JUDGED
    badges = " ".join(_badge(v, f"{c[v]} {v}") for v in VERDICTS if c[v]) if judged else _badge(result)
    dur = (entry["ended_ns"] - entry["started_ns"]) / 1e9
    head = (
        f"<summary><span class='client'>{_e(entry['client'])}</span> "
        f"<span class='muted mono small'>{_e(entry['library'])} {_e(entry['client_version'])}</span> &nbsp; {badges}"
        f" <span class='muted small'>· {dur:.1f} s</span></summary>"
    )
    body = [
        f"<p class='small'><b>status</b> {_e(entry['status'])} · <b>seed</b> {_e(entry['seed'])} · "
        f"<b>topology</b> {_e(entry['topology'])} · <b>backend</b> {_e(entry['backend'])} · "
        f"<b>servers</b> {_e(', '.join(f'{k} {v}' for k, v in entry['server_versions'].items()))} · "
        f"<b>events</b> {len(entry['events'])}</p>"
    ]
    if result in model.FAILED:
        body.append(f"<div class='err'><b>{_e(model.label(result))}</b>: {_e(reason or '')}</div>")
    elif reason:
        # Why nothing was judged (skipped, n/a, metrics only), or what the library lacks beside its checks.
        why = model.label(result) if result not in model.JUDGED else "unsupported"
        body.append(f"<div class='note'><b>{_e(why)}</b>: {_e(reason)}</div>")
    body.append(_actors(entry))
    body.append(_links_faults(entry))
    spec = timeline_spec(entry)
    if spec is not None:
        body.append("<h4>Timeline</h4>" + plots.div(spec, "timeline"))
    else:
        body.append("<p class='muted'>no events recorded</p>")
    storm = storm_spec(entry)
    if storm is not None:
        body.append("<h4>Reconnect storm</h4>" + plots.div(storm, "storm"))
    body.append("<h4>Checks</h4>" + _checks(entry, plots))
    body.append("<h4>Metrics</h4>" + _metrics(entry))
    body.append(f"<p class='small'><b>reproduce</b> <code>{_e(replay_command(entry))}</code></p>")
    cls = f"entry {state}"
    return (
        f"<details class='{cls}' id='{_e(entry_anchor(entry))}'{is_open}>{head}"
        f"<div class='body'>{''.join(body)}</div></details>"
    )


def _sections(entries: list[dict], plots: _Plots) -> str:
    out = []
    for family, scenarios in families(entries).items():
        out.append(f"<h2 id='f-{_e(slug(family))}'>{_e(family)}: scenarios</h2>")
        for scenario, by_client in scenarios.items():
            summary = next(iter(by_client.values()))["description"]
            out.append(
                f"<h3 id='s-{_e(slug(scenario))}' class='mono'>{_e(scenario)}</h3>"
                f"<p class='scenario-summary'>{_e(summary)}</p>"
            )
            out.extend(_entry(by_client[c], plots) for c in sorted(by_client))
    return "\n".join(out)


def _footer(results: dict) -> str:
    return (
        "<h2 id='reproduce'>Reproduce</h2>"
        "<p>One scenario × client, from its work folder (the drivers' configs, event logs and server logs):</p>"
        "<pre>harness replay &lt;out&gt;/work/&lt;scenario&gt;--&lt;client&gt;</pre>"
        "<p>(each section above gives its own command). The whole run:</p>"
        f"<pre>{_e(results['run']['command'])}</pre>"
        f"<p class='small muted'>base seed {_e(results['run'].get('seed'))}; each entry's seed is derived from it, "
        "the scenario and the client.</p>"
    )


def plotly_js() -> str:
    """The plotting library's own minified source, as the installed plotly ships it."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def render(results: dict, self_contained: bool = False) -> str:
    """The whole report as one HTML document. It loads PLOTLY_JS from beside itself
    (harness.report.write puts it there), or, self-contained, holds it inline; a page
    without figures loads no plotly.js at all."""
    entries = results["entries"]
    plots = _Plots()
    sections = _sections(entries, plots)
    title = f"Fault harness report · run {results['run']['id']}"
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>",
        _header(results),
        "<div class='toolbar'><a href='#overview'>overview</a> · "
        + " · ".join(f"<a href='#f-{_e(slug(f))}'>{_e(f)}</a>" for f in families(entries))
        + " · <a href='#reproduce'>reproduce</a>"
        "<button id='expand-all' type='button'>expand all</button>"
        "<button id='collapse-all' type='button'>collapse all</button></div>",
        "<h2 id='overview'>Overview</h2>",
        _tally(entries),
        _deviations(entries),
        _fates(entries),
        _matrix(entries),
        sections,
        _footer(results),
        "</main>",
    ]
    if plots.n:
        parts.append(f"<script>{plotly_js()}</script>" if self_contained else f"<script src='{PLOTLY_JS}'></script>")
    # Without figures the script still runs the page's buttons and links; it calls Plotly only to draw.
    parts += [f"<script>{SCRIPT}</script>", "</body></html>"]
    return "\n".join(parts)
