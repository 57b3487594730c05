"""Comparing two runs (harness/report/compare.py), on the recorded full-suite run."""

from __future__ import annotations

import copy
import html
import json
from html.parser import HTMLParser

import pytest

from harness import cli
from harness.errors import UsageError
from harness.judging import outcome
from harness.report import compare

SCENARIO, CLIENT = "nats.single.refused", "nats-go"


@pytest.fixture
def run(recorded_results) -> dict:
    """A deep copy of the recorded run, free to mutate."""
    return copy.deepcopy(recorded_results)


def entry(results: dict, scenario: str = SCENARIO, client: str = CLIENT) -> dict:
    return next(e for e in results["entries"] if e["scenario"] == scenario and e["client"] == client)


def check(results: dict, check_id: str, scenario: str = SCENARIO, client: str = CLIENT) -> dict:
    return next(c for c in entry(results, scenario, client)["checks"] if c["id"] == check_id)


def only(c: dict, **expected: int) -> None:
    """Every count is zero except the ones given."""
    assert c["counts"] == {k: expected.get(k, 0) for k in c["counts"]}
    assert c["differences"] == sum(expected.values())


def test_a_run_compared_with_itself_has_no_differences(recorded_results, run):
    c = compare.compare(recorded_results, run)
    only(c)
    assert c["summary"] == "no differences beyond noise"
    for key in (
        "added",
        "removed",
        "versions",
        "statuses",
        "outcomes",
        "verdicts",
        "checks_appeared",
        "checks_disappeared",
        "unlike",
    ):
        assert c[key] == []
    assert c["timings"]["moved"] == [] and c["timings"]["compared"] > 100
    assert c["notes"] == []
    assert compare.render_text(c).splitlines()[0] == "no differences beyond noise"
    json.dumps(c)  # plain data


def test_a_changed_verdict_is_exactly_that_change(recorded_results, run):
    c_b = check(run, "AllowReconnect")
    c_b["verdict"] = "deviates"
    c_b["observed"] = 0
    c_b["detail"] = "with AllowReconnect left at its default, the client made no reconnect attempt"
    c = compare.compare(recorded_results, run)
    only(c, verdicts_changed=1)
    assert c["verdicts"] == [
        {
            "scenario": SCENARIO,
            "client": CLIENT,
            "check": "AllowReconnect",
            "before": "conforms",
            "after": "deviates",
            "observed_before": 5,
            "observed_after": 0,
            "unit": "attempts",
            "detail": c_b["detail"],
        }
    ]
    assert c["summary"] == "1 verdict changed"


def test_a_removed_entry_is_reported_as_removed(recorded_results, run):
    run["entries"].remove(entry(run, "amqp.single.reset", "rhea"))
    c = compare.compare(recorded_results, run)
    only(c, entries_removed=1)
    assert [(x["scenario"], x["client"]) for x in c["removed"]] == [("amqp.single.reset", "rhea")]
    assert c["summary"] == "1 entry removed"


def test_an_entry_of_a_client_never_seen_is_reported_as_added(recorded_results, run):
    new = copy.deepcopy(entry(run))
    new.update(client="nats-rs-0x", library="async-nats", client_version="0.99.0")
    run["entries"].append(new)
    c = compare.compare(recorded_results, run)
    only(c, entries_added=1)
    assert c["added"] == [
        {
            "scenario": SCENARIO,
            "client": "nats-rs-0x",
            "library": "async-nats",
            "client_version": "0.99.0",
            "status": "ok",
        }
    ]
    # and the other way round
    back = compare.compare(run, recorded_results)
    only(back, entries_removed=1)


def test_checks_that_appear_or_disappear(recorded_results, run):
    e = entry(run)
    gone = next(c for c in e["checks"] if c["id"] == "ReconnectJitter")
    e["checks"].remove(gone)
    e["checks"].append({**copy.deepcopy(gone), "id": "ReconnectJitterMax", "detail": "new check"})
    c = compare.compare(recorded_results, run)
    only(c, checks_appeared=1, checks_disappeared=1)
    assert [x["check"] for x in c["checks_appeared"]] == ["ReconnectJitterMax"]
    assert [x["check"] for x in c["checks_disappeared"]] == ["ReconnectJitter"]


def test_a_status_change_is_reported_once_not_check_by_check(recorded_results, run):
    e = entry(run)
    e.update(status="error", error="nats-server did not come up on 127.0.0.1:4222 within 10 s", checks=[])
    c = compare.compare(recorded_results, run)
    only(c, statuses_changed=1)
    assert c["statuses"][0]["before"] == "ok" and c["statuses"][0]["after"] == "error"
    assert "did not come up" in compare.render_text(c)


def test_a_timing_scaled_by_1_2_has_moved(recorded_results, run):
    before = check(recorded_results, "ReconnectWait")["observed"]  # 4 intervals around 2 s
    after = [v * 1.2 for v in before]
    check(run, "ReconnectWait")["observed"] = after
    c = compare.compare(recorded_results, run)
    only(c, timings_moved=1)
    (m,) = c["timings"]["moved"]
    med_a = sorted(before)[1] / 2 + sorted(before)[2] / 2
    assert (m["scenario"], m["client"], m["kind"], m["name"]) == (SCENARIO, CLIENT, "check", "ReconnectWait")
    assert m["before"] == pytest.approx(med_a, abs=1e-3)
    assert m["after"] == pytest.approx(med_a * 1.2, abs=1e-3)
    assert m["delta"] == pytest.approx(med_a * 0.2, abs=2e-3)
    assert m["direction"] == "slower"
    spread = (max(after) - min(after)) / 2
    assert m["spread"] == pytest.approx(spread, abs=1e-3)
    # The slack is the one the check was judged with, read from its stored band, not recomputed.
    band = check(run, "ReconnectWait")["band"]
    assert m["slack"] == pytest.approx(max(band["slack_ms"]), abs=1e-3)
    assert m["noise"] == pytest.approx(max(band["slack_ms"]) + spread, abs=1e-3)
    assert c["summary"] == "1 timing moved"

    check(run, "ReconnectWait")["observed"] = [v / 1.2 for v in before]
    (m,) = compare.compare(recorded_results, run)["timings"]["moved"]
    assert m["direction"] == "faster" and m["delta"] < 0


@pytest.mark.parametrize("shift_ms", [3.0, -5.0, 10.0])
def test_a_shift_inside_the_measurement_slack_is_not_a_move(recorded_results, run, shift_ms):
    check(run, "ReconnectWait")["observed"] = [v + shift_ms for v in check(run, "ReconnectWait")["observed"]]
    entry(run)["metrics"]["reconnected_after_heal_ms"] += shift_ms
    only(compare.compare(recorded_results, run))


def test_a_shift_smaller_than_the_runs_own_spread_is_not_a_move(run):
    a, b = copy.deepcopy(run), run
    check(a, "ReconnectWait")["observed"] = [1000.0, 2000.0, 3000.0]
    check(b, "ReconnectWait")["observed"] = [1300.0, 2300.0, 3300.0]  # 300 ms: beyond slack, inside +/- 1000
    only(compare.compare(a, b))
    # the same shift with too few values to have a spread is a move
    check(a, "ReconnectWait")["observed"] = [1000.0, 3000.0]
    check(b, "ReconnectWait")["observed"] = [1300.0, 3300.0]
    c = compare.compare(a, b)
    only(c, timings_moved=1)
    assert c["timings"]["moved"][0]["spread"] == 0


def test_timing_metrics_scalars_lists_and_summaries(recorded_results, run):
    m = entry(run)["metrics"]
    m["intervals_ms"] = [v * 1.2 for v in m["intervals_ms"]]
    m["intervals"] = {k: v * 1.2 for k, v in m["intervals"].items()}  # not *_ms: not compared
    m["first_attempt_after_loss_ms"] += 500
    pm = entry(run, "nats.cluster.all-cut", "nats-py")["metrics"]["per_server_intervals_ms"]
    pm["n2-client"] = [v + 400 for v in pm["n2-client"]]
    wm = entry(run, "nats.single.blackhole", "nats-py")["metrics"]["wire_connection_ms"]
    wm.update(min=wm["min"] + 9000, median=wm["median"] + 9000, max=wm["max"] + 9000)
    c = compare.compare(recorded_results, run)
    moved = {(x["scenario"], x["client"], x["name"]): x for x in c["timings"]["moved"]}
    assert set(moved) == {
        (SCENARIO, CLIENT, "intervals_ms"),
        (SCENARIO, CLIENT, "first_attempt_after_loss_ms"),
        ("nats.cluster.all-cut", "nats-py", "per_server_intervals_ms[n2-client]"),
        ("nats.single.blackhole", "nats-py", "wire_connection_ms"),
    }
    assert all(x["kind"] == "metric" and x["direction"] == "slower" for x in moved.values())
    assert moved[(SCENARIO, CLIENT, "first_attempt_after_loss_ms")]["delta"] == pytest.approx(500)
    assert moved[("nats.single.blackhole", "nats-py", "wire_connection_ms")]["delta"] == pytest.approx(9000)


def test_a_byte_count_with_a_band_is_not_a_timing(recorded_results, run):
    check(run, "ReconnectBufSize", "nats.single.publish-while-cut", "nats-go")["observed"] += 1000
    only(compare.compare(recorded_results, run))


def test_version_changes(recorded_results, run):
    for e in run["entries"]:
        if e["client"] == CLIENT:
            e["client_version"] = "v1.56.0"
    c = compare.compare(recorded_results, run)
    only(c, versions_changed=1)
    assert c["versions"] == [
        {
            "what": "client",
            "name": CLIENT,
            "before": "github.com/nats-io/nats.go v1.55.0",
            "after": "github.com/nats-io/nats.go v1.56.0",
        }
    ]
    for e in run["entries"]:
        if "nats-server" in e["server_versions"]:
            e["server_versions"]["nats-server"] = "2.16.0"
    run["run"]["harness_version"] = "0.2.0"
    c = compare.compare(recorded_results, run)
    assert [(v["what"], v["name"], v["after"]) for v in c["versions"]] == [
        ("client", CLIENT, "github.com/nats-io/nats.go v1.56.0"),
        ("server", "nats-server", "2.16.0"),
        ("harness", "harness", "0.2.0"),
    ]
    assert c["summary"] == "3 versions changed"


def modified(recorded_results: dict) -> dict:
    """A realistic 'after' run: a new nats.go, slower reconnect waits, one new deviation, one entry gone."""
    run = copy.deepcopy(recorded_results)
    for e in run["entries"]:
        if e["client"] == CLIENT:
            e["client_version"] = "v1.56.0"
    c = check(run, "ReconnectWait")
    c["observed"] = [v * 1.2 for v in c["observed"]]
    c["verdict"] = "deviates"
    c["detail"] = "4 intervals between attempts, documented band [2000, 2100] ms; outside: <script>alert(1)</script>"
    check(run, "ReconnectJitter")["observed"] = [float(v) for v in range(100, 139)]
    check(run, "ReconnectJitter")["verdict"] = "deviates"
    run["entries"].remove(entry(run, "amqp.single.reset", "rhea"))
    return run


def test_render_text_verdict_first_and_every_item(recorded_results):
    c = compare.compare(recorded_results, modified(recorded_results))
    text = compare.render_text(c)
    lines = text.splitlines()
    assert lines[0] == "UNLIKE RUNS: they differ in client versions (nats-go)"
    assert lines[1] == c["summary"] == "1 entry removed, 2 verdicts changed, 2 timings moved, 1 version changed"
    assert "amqp.single.reset / rhea" in text
    assert "nats.single.refused / nats-go / ReconnectWait: conforms -> deviates" in text
    assert "nats.single.refused / nats-go / ReconnectJitter: conforms -> deviates" in text
    assert "client nats-go: github.com/nats-io/nats.go v1.55.0 -> github.com/nats-io/nats.go v1.56.0" in text
    for m in c["timings"]["moved"]:
        assert f"{m['scenario']} / {m['client']} / {m['name']}" in text
    assert "stored band's slack_ms" in text  # the noise rule is stated
    assert "Entries only in the after run" not in text  # empty sections are left out
    # long lists are cut, lines stay readable, and no control characters
    assert "[100, 101, 102, 103, 104, 105, … (39 in all)]" in text
    assert max(len(line) for line in lines) < 200
    assert all(ch.isprintable() for line in lines for ch in line)


def test_render_text_strips_control_characters(recorded_results, run):
    check(run, "AllowReconnect")["verdict"] = "deviates"
    check(run, "AllowReconnect")["detail"] = "red \x1b[31mtext\x1b[0m\r\nand a bell\x07"
    text = compare.render_text(compare.compare(recorded_results, run))
    assert "\x1b" not in text and "\r" not in text and "\x07" not in text
    assert all(ch.isprintable() for line in text.splitlines() for ch in line)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.opened: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.opened.append(tag)
        self.attrs.extend(attrs)
        if tag not in ("meta", "br"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()


def test_render_html_is_well_formed_self_contained_and_escaped(recorded_results):
    c = compare.compare(recorded_results, modified(recorded_results))
    page = compare.render_html(c)
    p = _Tags()
    p.feed(page)
    p.close()
    assert p.stack == []
    assert p.opened.count("table") == 5  # runs, removed, versions, verdicts, timings
    assert "UNLIKE RUNS: they differ in client versions (nats-go)" in page
    assert "script" not in p.opened and "link" not in p.opened and "img" not in p.opened
    assert not any(name in ("src", "href") for name, _ in p.attrs)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert c["summary"] in page


def test_render_html_of_no_differences(recorded_results):
    page = compare.render_html(compare.compare(recorded_results, recorded_results))
    p = _Tags()
    p.feed(page)
    assert p.stack == [] and p.opened.count("table") == 1
    assert "no differences beyond noise" in page


def test_an_incomplete_run_is_noted(recorded_results, run):
    run["complete"] = False
    c = compare.compare(recorded_results, run)
    only(c)
    assert "after run is incomplete" in compare.render_text(c)


def test_load_pair_reads_files_and_folders(tmp_path, recorded_results):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "results.json").write_text(json.dumps(recorded_results))
    (tmp_path / "b.json").write_text(json.dumps(recorded_results))
    a, b = compare.load_pair(tmp_path / "a", tmp_path / "b.json")
    only(compare.compare(a, b))


def test_load_pair_names_a_missing_file(tmp_path, recorded_results):
    good = tmp_path / "results.json"
    good.write_text(json.dumps(recorded_results))
    missing = tmp_path / "nowhere" / "results.json"
    with pytest.raises(UsageError) as e:
        compare.load_pair(good, missing)
    assert str(missing) in e.value.line() and "\n" not in e.value.line()


def test_load_pair_names_a_file_of_another_schema_version(tmp_path, recorded_results):
    good = tmp_path / "results.json"
    good.write_text(json.dumps(recorded_results))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**recorded_results, "schema_version": 99}))
    with pytest.raises(UsageError) as e:
        compare.load_pair(other, good)
    assert str(other) in e.value.line() and "schema version 99" in e.value.line()
    assert "\n" not in e.value.line()


def test_the_stored_band_sets_the_noise_not_a_recomputed_slack(recorded_results, run):
    """Widen the stored slack of ReconnectWait in both runs: the same 300 ms move is now noise."""
    a = copy.deepcopy(recorded_results)
    for r in (a, run):
        check(r, "ReconnectWait")["band"]["slack_ms"] = [400.0, 400.0]
    check(run, "ReconnectWait")["observed"] = [v + 300 for v in check(run, "ReconnectWait")["observed"]]
    only(compare.compare(a, run))
    check(a, "ReconnectWait")["band"]["slack_ms"] = [20.0, 20.0]
    check(run, "ReconnectWait")["band"]["slack_ms"] = [20.0, 20.0]
    assert compare.compare(a, run)["counts"]["timings_moved"] == 1


def test_a_metric_takes_the_widest_judged_slack_of_its_entry(recorded_results, run):
    e = entry(run)
    widest = max(max(c["band"]["slack_ms"]) for c in e["checks"] if c.get("band") and c["unit"] == "ms")
    e["metrics"]["reconnected_after_heal_ms"] += widest * 0.9
    only(compare.compare(recorded_results, run))
    e["metrics"]["reconnected_after_heal_ms"] += widest * 0.2
    (m,) = compare.compare(recorded_results, run)["timings"]["moved"]
    assert m["name"] == "reconnected_after_heal_ms" and m["slack"] == pytest.approx(widest)


def test_a_changed_outcome_is_reported_from_the_stored_outcome(recorded_results, run):
    e = entry(run)
    e["outcome"] = {**e["outcome"], "result": "not-measured", "reason": "the wire log was cut short"}
    c = compare.compare(recorded_results, run)
    only(c, outcomes_changed=1)
    assert c["outcomes"] == [
        {
            "scenario": SCENARIO,
            "client": CLIENT,
            "before": "conforms",
            "after": "not-measured",
            "reason_before": None,
            "reason_after": "the wire log was cut short",
        }
    ]
    assert compare.gates(c)
    assert "nats.single.refused / nats-go: conforms -> not-measured" in compare.render_text(c)
    assert "Outcomes changed" in compare.render_html(c)


def test_a_check_that_deviates_now_changes_verdict_and_outcome(recorded_results, run):
    c_b = check(run, "AllowReconnect")
    c_b["verdict"] = "deviates"
    entry(run)["outcome"] = outcome.decide(entry(run))
    c = compare.compare(recorded_results, run)
    only(c, verdicts_changed=1, outcomes_changed=1)
    assert c["summary"] == "1 outcome changed, 1 verdict changed"


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda r: r["run"].update(options={"ReconnectWait": 500}), "user options (none -> {ReconnectWait: 500})"),
        (lambda r: [e.update(backend="compose") for e in r["entries"]] and r["run"].update(backend="compose"),
         "backend (local -> compose)"),
        (lambda r: [e["server_versions"].update({"nats-server": "2.16.0"}) for e in r["entries"]
                    if "nats-server" in e["server_versions"]], "server versions (nats-server)"),
    ],
)  # fmt: skip
def test_unlike_runs_are_said_first(recorded_results, run, change, said):
    change(run)
    c = compare.compare(recorded_results, run)
    assert c["unlike"] == [said]
    assert compare.render_text(c).splitlines()[0] == f"UNLIKE RUNS: they differ in {said}"
    assert html.escape(f"UNLIKE RUNS: they differ in {said}") in compare.render_html(c)
    assert not compare.gates(c)  # unlike is a warning; only judgements gate


def test_the_cli_exit_code_gates_on_verdicts(tmp_path, recorded_results, run, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "results.json").write_text(json.dumps(recorded_results))
    (b / "results.json").write_text(json.dumps(recorded_results))
    assert cli.main(["compare", str(a), str(b)]) == 0
    assert (b / "compare.html").exists()
    for e in run["entries"]:
        if e["client"] == CLIENT:
            e["client_version"] = "v1.56.0"  # a version alone does not fail
    (b / "results.json").write_text(json.dumps(run))
    assert cli.main(["compare", str(a), str(b)]) == 0
    check(run, "AllowReconnect")["verdict"] = "deviates"
    (b / "results.json").write_text(json.dumps(run))
    capsys.readouterr()
    assert cli.main(["compare", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("UNLIKE RUNS") and "verdict changed" in out
    assert cli.main(["compare", str(a), str(tmp_path / "nowhere")]) == 2


def test_an_upgrade_is_compared_client_to_client(recorded_results, run):
    """Run A with nats-go@OLD, run B with nats-go: the two are one client whose verdicts
    and version are compared, not one removed and one added."""
    old = copy.deepcopy(recorded_results)
    for e in old["entries"]:
        if e["client"] == CLIENT:
            e["client"], e["client_version"] = f"{CLIENT}@v1.0.0", "v1.0.0"
    check(run, "AllowReconnect")["verdict"] = "deviates"
    c = compare.compare(old, run)
    assert c["added"] == [] and c["removed"] == []
    label = f"{CLIENT}@v1.0.0 → {CLIENT}"
    assert [v["client"] for v in c["verdicts"]] == [label]
    assert {"what": "client", "name": label} in [{k: v[k] for k in ("what", "name")} for v in c["versions"]]
