"""The HTML report and the Markdown summary, on the recorded full-suite run.

Structure only (the browser test checks that the page really draws): every entry
has its section, every verdict in the overview links to evidence that exists,
nothing is fetched from the network, and data the report code has never seen (a
new client, a new metric, a new event kind) still shows.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections import Counter
from html.parser import HTMLParser

import plotly.graph_objects as go
import pytest
from plotly.offline import get_plotlyjs

from harness import report, results
from harness.errors import UsageError
from harness.judging import outcome, slack_ms
from harness.report import figures, model, values
from harness.report import html as report_html
from harness.report import markdown as report_md


class Page(HTMLParser):
    """What the tests look at in a rendered page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.external: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.links: list[tuple[dict, str]] = []  # <a> attrs, text
        self.text: list[str] = []
        self.specs: dict[str, dict] = {}
        self._a: dict | None = None
        self._script: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if "id" in a:
            assert a["id"] not in self.ids, f"duplicate id {a['id']}"
            self.ids.add(a["id"])
        for k in ("src", "href"):
            if k in a and re.match(r"\s*(https?:)?//", a[k]):
                self.external.append(f"<{tag} {k}={a[k]}>")
        if tag == "a":
            self.hrefs.append(a.get("href", ""))
            self._a = a
            self.text.append("")
        if tag == "script":
            self._script = a["id"] if a.get("type") == "application/json" else ""
        if tag == "style":
            self._script = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._a is not None:
            self.links.append((self._a, self.text[-1]))
            self._a = None
        if tag in ("script", "style"):
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script:
            self.specs[self._script] = json.loads(data)
        if self._script is not None:
            return
        self.text.append(data)

    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


@pytest.fixture(scope="module")
def rendered(recorded_results) -> tuple[str, Page]:
    started = time.perf_counter()
    text = report_html.render(recorded_results)
    took = time.perf_counter() - started
    page = Page(text)
    print(
        f"\nHTML report of the recorded suite ({len(recorded_results['entries'])} entries): "
        f"{len(text.encode()) / 1e6:.2f} MB, rendered in {took:.2f} s, {len(page.specs)} charts"
    )
    return text, page


def test_every_entry_has_its_section(recorded_results, rendered):
    _, page = rendered
    sections = {a["id"] for tag, a in page.tags if tag == "details"}
    for e in recorded_results["entries"]:
        assert model.entry_anchor(e) in sections, (e["scenario"], e["client"])
    assert len(sections) == len(recorded_results["entries"])


def test_every_verdict_is_in_the_overview_and_links_to_its_evidence(recorded_results, rendered):
    _, page = rendered
    badges = Counter((a.get("href"), a.get("class"), text) for a, text in page.links)
    for e in recorded_results["entries"]:
        for c in e["checks"]:
            anchor = model.check_anchor(e, c["id"])
            assert anchor in page.ids, f"no row for {e['scenario']}/{e['client']}/{c['id']}"
            assert badges[(f"#{anchor}", f"v v-{c['verdict']}", c["verdict"])] == 1, (e["scenario"], e["client"])
    # Every link inside the page lands somewhere.
    internal = [h for h in page.hrefs if h.startswith("#")]
    assert internal and all(h[1:] in page.ids for h in internal), [h for h in internal if h[1:] not in page.ids][:5]


def test_cells_without_a_verdict_say_why(recorded_results, rendered):
    _, page = rendered
    na = [e for e in recorded_results["entries"] if e["outcome"]["result"] == "not-applicable"]
    assert na, "the recorded suite has scenarios a library cannot run"
    hrefs = {a.get("href"): text for a, text in page.links}
    for e in na:
        assert hrefs[f"#{model.entry_anchor(e)}"] == "n/a"


def test_a_skipped_entry_says_skipped_and_why_not_n_a(recorded_results):
    res = copy.deepcopy(recorded_results)
    e = res["entries"][0]
    reason = "no router binary on this machine"
    e.update(checks=[], skipped=reason, unsupported=reason, events=[])
    e["outcome"] = outcome.decide(e)  # as the runner decides it
    text = report_html.render(res)
    hrefs = {a.get("href"): t for a, t in Page(text).links}
    assert hrefs[f"#{model.entry_anchor(e)}"] == "skipped"
    assert f"<b>skipped</b>: {reason}" in text
    row = next(x for x in report_md.render(res).splitlines() if x.startswith(f"| `{e['scenario']}` "))
    assert "skipped" in row and "n/a" not in row


def test_header_versions_and_reproduce_commands(recorded_results, rendered):
    _, page = rendered
    words = page.all_text()
    run = recorded_results["run"]
    for value in (run["id"], run["backend"], run["harness_version"], run["command"], str(run["seed"])):
        assert value in words
    for value in run["host"].values():
        assert str(value) in words
    for e in recorded_results["entries"]:
        assert e["library"] in words and e["client_version"] in words
        for server, version in e["server_versions"].items():
            assert server in words and version in words
        assert f"harness replay <out>/work/{e['scenario']}--{e['client']}" in words
    assert "INCOMPLETE" not in words  # the recorded run finished


def test_opens_offline(rendered):
    text, page = rendered
    assert page.external == []
    assert not any(tag == "link" for tag, _ in page.tags)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", text)
    scripts = [a for tag, a in page.tags if tag == "script"]
    # plotly.js is loaded once, from beside the page (report.write puts it there), never inlined;
    # every chart is data, drawn by one script.
    assert [a["src"] for a in scripts if "src" in a] == [report_html.PLOTLY_JS]
    assert get_plotlyjs()[:300] not in text
    assert len([a for a in scripts if a.get("type") == "application/json"]) == len(page.specs)
    assert len(scripts) == len(page.specs) + 2


def test_a_self_contained_page_inlines_plotly_once(recorded_results, recorded):
    one = {**recorded_results, "entries": [recorded("nats.single.refused", "nats-go")]}
    text = report_html.render(one, self_contained=True)
    scripts = [a for tag, a in Page(text).tags if tag == "script"]
    assert text.count(get_plotlyjs()[:300]) == 1 and not any("src" in a for a in scripts)


def test_a_page_without_figures_loads_no_plotly(recorded_results, recorded):
    e = recorded("nats.single.refused", "nats-go")
    e.update(checks=[], skipped="not on this backend", events=[])
    e["outcome"] = outcome.decide(e)
    text = report_html.render({**recorded_results, "entries": [e]})
    assert report_html.PLOTLY_JS not in text and get_plotlyjs()[:300] not in text
    assert "expand-all" in text  # the page's own script still runs its buttons


def test_plotly_is_written_once_beside_the_page(recorded_results, tmp_path):
    out = tmp_path / "out"
    one = {**recorded_results, "entries": recorded_results["entries"][:1]}
    html_path, _ = report.write(one, out)
    js = out / report_html.PLOTLY_JS
    assert js.read_text() == get_plotlyjs()
    assert html_path.stat().st_size < 200_000, "plotly.js is not in the page"
    stamp = js.stat().st_mtime_ns
    report.write(one, out)
    assert js.stat().st_mtime_ns == stamp  # not rewritten when it is the same
    js.write_text("stale")
    report.write(one, out)
    assert js.read_text() == get_plotlyjs()  # replaced when it differs
    report.write(one, tmp_path / "single", self_contained=True)
    assert not (tmp_path / "single" / report_html.PLOTLY_JS).exists()


def test_charts_are_valid_plotly_figures(recorded_results, rendered):
    _, page = rendered
    plots = [a for tag, a in page.tags if tag == "div" and "data-spec" in a]
    assert len(plots) == len(page.specs)
    for a in plots:
        go.Figure(page.specs[a["data-spec"]])  # raises on any property plotly does not know
    with_events = sum(1 for e in recorded_results["entries"] if e["events"])
    timelines = [a for a in plots if "timeline" in a["class"]]
    assert len(timelines) == with_events


def test_timeline_lanes_faults_and_message_bins(recorded):
    e = recorded("nats.single.publish-while-cut", "nats-go")
    spec = figures.timeline_spec(e)
    lanes = spec["layout"]["yaxis"]["categoryarray"]
    assert lanes[:2] == list(e["actors"]) and "wire n1-client" in lanes and "wire n1-observer" in lanes
    # Faults are shaded windows over both rows, labelled with kind and target.
    (shape,) = spec["layout"]["shapes"]
    f = e["faults"][0]
    assert shape["x0"] == round((f["start_ns"] - e["started_ns"]) / 1e9, 4)
    assert "refuse n1-client" in spec["layout"]["annotations"][0]["text"]
    # Messages are counted per 100 ms bin on the second row, never drawn one by one.
    bins = [t for t in spec["data"] if t.get("yaxis") == "y2"]
    markers = [t for t in spec["data"] if t.get("yaxis") == "y"]
    n_messages = sum(1 for ev in e["events"] if ev["kind"] in figures.MESSAGE_KINDS)
    assert n_messages > 5000 and sum(sum(t["y"]) for t in bins) == n_messages
    assert sum(len(t["x"]) for t in markers) == len(e["events"]) - n_messages - 2  # fault start/end: shaded
    # Client-reported attempts and wire-observed ones look different.
    by_name = {t["name"]: t for t in markers}
    client, wire = by_name["attempt (client)"], by_name["conn accepted (wire)"]
    assert set(client["y"]) == {"client", "observer"} and set(wire["y"]) <= {"wire n1-client", "wire n1-observer"}
    assert client["marker"]["color"] != wire["marker"]["color"]


def test_a_fault_never_healed_is_shaded_to_the_end(recorded):
    e = recorded("nats.single.refused", "nats-go")
    e["faults"][0]["end_ns"] = None
    spec = figures.timeline_spec(e)
    assert spec["layout"]["shapes"][0]["x1"] == round((e["ended_ns"] - e["started_ns"]) / 1e9, 4)
    assert "never healed" in spec["layout"]["annotations"][0]["text"]


def test_check_values_chart_shows_band_and_slack(recorded):
    e = recorded("nats.single.refused", "nats-go")
    check = next(c for c in e["checks"] if c["id"] == "ReconnectWait")
    spec = figures.values_spec(check)
    slack, band, observed = spec["data"]
    lo, hi = check["band"]["documented"]
    assert min(band["y"]) == lo and max(band["y"]) == hi
    assert min(slack["y"]) == check["band"]["lo"] == lo - slack_ms(lo)
    assert max(slack["y"]) == check["band"]["hi"] == hi + slack_ms(hi)
    assert observed["y"] == check["observed"] and spec["layout"]["yaxis"]["type"] == "linear"
    # An exponential schedule (100 ms .. 60 s) is drawn on a log axis.
    e = recorded("amqp.single.default-cap", "rhea")
    check = next(c for c in e["checks"] if values.number_list(c["observed"]))
    assert figures.values_spec(check)["layout"]["yaxis"]["type"] == "log"


def test_metrics_render_by_shape(recorded):
    e = recorded("nats.cluster.all-cut", "nats-go")
    passes = report_html.metric_html(e["metrics"]["passes"], e)
    assert passes.count("class='chiprow'") == len(e["metrics"]["passes"]) and "n3-client" in passes
    summary = report_html.metric_html(e["metrics"]["per_server_intervals"], e)
    assert summary.startswith("<span") and "median 2053.242" in summary
    e = recorded("amqp.messages.send-while-cut", "rhea")
    ledger = report_html.metric_html(e["metrics"]["ledger"], e)
    assert "while_cut" in ledger and "310" in ledger and "102–151" in ledger


def test_a_new_client_and_a_new_metric_show_without_report_changes(recorded_results, recorded, tmp_path):
    new = recorded("nats.single.refused", "nats-go")
    new.update(client="nats-zig", library="github.com/example/nats.zig", client_version="0.0.7-new")
    new["metrics"]["teleport_latency_ms"] = [1.5, 2.5, 250.0]
    new["metrics"]["quantum_state"] = {"spin": [1, {"up": True}], "n": None}
    new["events"].insert(5, {**new["events"][4], "kind": "teleported", "to": "mars"})
    new["checks"][0]["verdict"] = "deviates"
    res = copy.deepcopy({**recorded_results, "entries": [recorded("nats.single.refused", "nats-go"), new]})
    res["complete"] = False
    assert results.validate(res) == []

    html_path, md_path = report.write(res, tmp_path)
    text = html_path.read_text()
    page = Page(text)
    words = page.all_text()
    assert model.entry_anchor(new) in page.ids
    assert "nats-zig" in words and "github.com/example/nats.zig" in words and "0.0.7-new" in words
    assert "teleport_latency_ms" in words and "quantum_state" in words and "INCOMPLETE" in words
    assert "nats-zig" in re.findall(r"<th>([^<]*)</th>", text)  # a column of the overview
    assert any("teleported" in json.dumps(s) for s in page.specs.values())

    md = md_path.read_text()
    assert "`nats-zig`" in md and "INCOMPLETE" in md and "0.0.7-new" in md


def test_harness_errors_show_as_errors(recorded_results, recorded):
    broken = recorded("nats.single.stale", "nats-py")
    broken.update(status="error", error="nats-server did not come up on 127.0.0.1:4222", checks=[], metrics={})
    broken["outcome"] = outcome.decide(broken)
    res = {**recorded_results, "entries": [recorded("nats.single.stale", "nats-go"), broken]}
    page = Page(report_html.render(res))
    hrefs = {a.get("href"): text for a, text in page.links}
    assert hrefs[f"#{model.entry_anchor(broken)}"] == "error"
    assert "nats-server did not come up" in page.all_text()
    md = report_md.render(res)
    assert "Harness errors (1)" in md and "nats-server did not come up" in md and "**ERROR**" in md


def test_data_is_escaped(recorded_results, recorded):
    e = recorded("nats.single.refused", "nats-go")
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    e["description"] = evil
    e["checks"][0]["detail"] = evil
    e["metrics"][evil] = evil
    e["events"][2]["url"] = evil
    e["faults"][0]["target"] = evil
    text = report_html.render({**recorded_results, "entries": [e]})
    ours = text.replace(get_plotlyjs(), "")
    assert "<script>alert" not in ours and "<img" not in ours
    page = Page(text)
    assert evil in page.all_text()
    assert len([tag for tag, _ in page.tags if tag == "script"]) == len(page.specs) + 2


def test_write_refuses_results_that_break_the_schema(recorded_results, tmp_path):
    bad = copy.deepcopy({**recorded_results, "entries": recorded_results["entries"][:1]})
    del bad["entries"][0]["checks"]
    with pytest.raises(UsageError) as err:
        report.write(bad, tmp_path / "out")
    assert "\n" not in err.value.line() and "checks" in err.value.line()
    assert not (tmp_path / "out").exists()


def test_write(recorded_results, tmp_path):
    html_path, md_path = report.write(recorded_results, tmp_path / "out")
    assert html_path == tmp_path / "out" / "report.html" and md_path == tmp_path / "out" / "summary.md"
    assert html_path.read_text().startswith("<!DOCTYPE html>") and md_path.read_text().startswith("## ")
    print(f"\nreport.html {html_path.stat().st_size / 1e6:.2f} MB, summary.md {md_path.stat().st_size / 1e3:.1f} kB")


def test_markdown_summary(recorded_results):
    started = time.perf_counter()
    md = report_md.render(recorded_results)
    print(f"\nsummary.md: {len(md.encode()) / 1e3:.1f} kB in {time.perf_counter() - started:.3f} s")
    lines = md.splitlines()
    for scenario in {e["scenario"] for e in recorded_results["entries"]}:
        assert sum(1 for line in lines if line.startswith(f"| `{scenario}` |")) == 1, scenario
    devs = [(e, c) for e in recorded_results["entries"] for c in e["checks"] if c["verdict"] == "deviates"]
    assert devs
    for e, c in devs:
        assert any(f"`{e['scenario']}`" in line and e["client"] in line and f"`{c['id']}`" in line for line in lines), (
            e["scenario"],
            e["client"],
            c["id"],
        )
    assert f"Deviations from the documentation ({len(devs)})" in md
    for e in recorded_results["entries"]:
        assert e["client_version"] in md and all(v in md for v in e["server_versions"].values())
    assert recorded_results["run"]["command"] in md
    assert len(md.encode()) < 20_000  # fits a CI job summary at a glance


def test_markdown_escapes_table_breaking_text(recorded_results, recorded):
    e = recorded("nats.single.refused", "nats-go")
    e["checks"][0].update(verdict="deviates", detail="a | b *c* <d>", observed="x|y")
    md = report_md.render({**recorded_results, "entries": [e]})
    assert "a \\| b \\*c\\* \\<d\\>" in md and "x\\|y" in md


@pytest.mark.parametrize(
    ("result", "cell", "badge"),
    [("skipped", "skipped", "skipped"), ("not-applicable", "n/a", "n/a"), ("metrics-only", "metrics", "metrics"),
     ("error", "**ERROR**", "error")],
)  # fmt: skip
def test_every_report_reads_the_stored_outcome(recorded_results, recorded, result, cell, badge):
    """The outcome is decided once: set it alone (status, checks and reasons untouched)
    and the terminal, the Markdown and the HTML all show it, with the same label."""
    from harness.report import terminal

    e = recorded("nats.single.refused", "nats-go")
    e["checks"] = []  # nothing judged; status, skipped and unsupported still say "ok", None, None
    e["outcome"] = {"result": result, "reason": "decided elsewhere", "counts": outcome.counts([])}
    res = {**recorded_results, "entries": [e]}
    assert model.label(result) == badge
    assert cell.strip("*") in terminal.table(res).splitlines()[2]
    assert terminal.entry_line(e).endswith("decided elsewhere")
    row = next(x for x in report_md.render(res).splitlines() if x.startswith("| `nats.single.refused` "))
    assert f"| {cell}" in row
    page = Page(report_html.render(res))
    cells = {text for a, text in page.links if a.get("class") == f"v v-{result}"}
    assert cells == {badge}
    assert "decided elsewhere" in page.all_text()


def test_a_not_measured_outcome_reads_not_measured_even_with_passes(recorded_results, recorded):
    e = recorded("nats.cluster.custom-delay", "nats-py")
    assert e["outcome"]["result"] == "not-measured"
    page = Page(report_html.render({**recorded_results, "entries": [e]}))
    summary = [a for tag, a in page.tags if tag == "details"]
    assert summary and "dev" not in summary[0]["class"]
