"""Any program as the client (`harness run --app`): its command's placeholders, the
wire metrics it is judged by, and a live run of a small nats-py program."""

from __future__ import annotations

import copy
import json
import signal
import sys
from pathlib import Path

import pytest
from support import poll
from test_cli import Harness, assert_one_line

from harness import results
from harness.contracts import problems
from harness.drivers.app import AppProcess, AppSpec, Placeholder
from harness.errors import UsageError
from harness.judging import wire_only
from harness.judging.entry import judge
from harness.judging.timeline import Timeline, merge
from harness.scenario import load_all
from harness.topology import get as get_topology

DATA = Path(__file__).parent / "data"
PROGRAM = DATA / "app_nats.py"
URLS = {"n1-client": "nats://127.0.0.1:21004", "n2-client": "nats://127.0.0.1:21006"}


# -- the command and its placeholders ------------------------------------------


def test_placeholders_become_urls_and_host_ports():
    app = AppSpec.parse("/bin/true --nats {n1-client},{n2-client} --addr={n2-client:hostport} '{{lit}}'")
    assert app.links == ["n1-client", "n2-client"]
    assert app.argv(URLS.__getitem__) == [
        "/bin/true",
        "--nats",
        "nats://127.0.0.1:21004,nats://127.0.0.1:21006",
        "--addr=127.0.0.1:21006",
        "{lit}",
    ]
    assert Placeholder("n2-client", "hostport") in app.words[3]
    app.check(get_topology("nats-3"))


@pytest.mark.parametrize(
    ("command", "mentions"),
    [
        ("/bin/true {n1-client", ["unmatched '{'"]),
        ("/bin/true n1-client}", ["unmatched '}'"]),
        ("/bin/true {n1-client:port}", ["malformed placeholder", "{LINK:hostport}"]),
        ("/bin/true {}", ["malformed placeholder"]),
        ("/bin/true '{a b}'", ["malformed placeholder"]),
        ("{n1-client} x", ["program must be named first"]),
        ("", ["command is empty"]),
        ("/bin/true 'open", ["cannot split"]),
        ("no-such-program-here {n1-client}", ["not found"]),
    ],
)
def test_a_malformed_command_is_a_usage_error(command: str, mentions: list[str]):
    with pytest.raises(UsageError) as e:
        AppSpec.parse(command)
    for m in mentions:
        assert m in e.value.line()
    assert "\n" not in e.value.line()


@pytest.mark.parametrize("link", ["n2-client", "n1-observer", "route-n1-n2", "n1"])
def test_only_client_links_of_the_topology_are_placeholders(link: str):
    with pytest.raises(UsageError, match="no client link"):
        AppSpec.parse(f"/bin/true {{{link}}}").check(get_topology("nats-single"))


def test_a_program_that_ignores_sigterm_is_killed(tmp_path: Path):
    app = AppSpec.parse("/bin/sh -c 'trap \"\" TERM; echo up; sleep 60'")
    p = AppProcess(app, app.argv(URLS.__getitem__), tmp_path)
    p.idle(0.5)
    assert p.alive()
    assert p.stop(grace=0.3) == -signal.SIGKILL
    assert not p.alive() and (tmp_path / "app.log").read_text() == "up\n"
    assert p.describe()["exited_on_its_own"] is False


# -- judged from the wire --------------------------------------------------------


def _recorded() -> dict[str, dict]:
    """Two recorded app entries (nats.single.reset, nats.cluster.failover), the wire
    of the app's links only."""
    return {e["scenario"]: e for e in json.loads((DATA / "app-entries.json").read_text())}


def test_recorded_app_entries_are_valid_and_judged_again_alike():
    for e in _recorded().values():
        res = {**results.new("local", 1), "entries": [e]}
        assert problems("results", res) == []
        again = copy.deepcopy(e)
        again["metrics"], again["checks"] = judge(again, load_all()[e["scenario"]])
        assert again["metrics"] == e["metrics"] and again["checks"] == e["checks"]


def test_every_claim_is_not_measured_and_no_invariant_is_judged():
    for e in _recorded().values():
        assert e["checks"], e["scenario"]
        assert {c["kind"] for c in e["checks"]} == {"claim"}
        assert {(c["verdict"], c["detail"]) for c in e["checks"]} == {("not-measured", wire_only.NOT_INSTRUMENTED)}
        assert e["outcome"]["result"] == "not-measured"


def test_reset_attempts_their_intervals_and_the_way_back_from_the_wire():
    o = _recorded()["nats.single.reset"]["metrics"]["wire_outages"][0]
    assert (o["fault"], o["target"], o["not_measured"]) == ("reset", "n1-client", {})
    # The program waits 0.5 s between attempts; each reset attempt is on the wire.
    assert o["attempts"] == 22 == o["attempts_per_link"]["n1-client"] == len(o["order"])
    assert all(500 <= x <= 530 for x in o["intervals_ms"])
    assert o["lasting_connection"]["link"] == "n1-client"
    assert 0 < o["heal_to_lasting_connection_ms"] < 600


def test_under_refuse_attempts_are_not_measured_and_failover_is_seen():
    o = _recorded()["nats.cluster.failover"]["metrics"]["wire_outages"][0]
    assert o["fault"] == "refuse" and o["attempts"] is None and o["order"] is None
    assert o["attempts_per_link"] == {"n1-client": None, "n2-client": 1}
    assert {"attempts", "order", "intervals_ms", "attempts_per_link.n1-client"} <= set(o["not_measured"])
    assert "never reached the wire" in o["not_measured"]["attempts"]
    # Back through n2 long before n1 healed: a negative time from the heal.
    assert o["lasting_connection"]["link"] == "n2-client"
    assert o["heal_to_lasting_connection_ms"] < -5000


def _tl(wire: list[dict], faults: list[dict], t1: int) -> Timeline:
    return Timeline(merge([], wire, faults, []), faults, 0, t1)


def _conn(t_ms: float, client: str, closed_ms: float | None = None, link: str = "n1-client") -> list[dict]:
    out = [{"t_ns": int(t_ms * 1e6), "kind": "conn_accepted", "link": link, "client": client}]
    if closed_ms is not None:
        out.append(
            {
                "t_ns": int(closed_ms * 1e6),
                "kind": "conn_closed",
                "link": link,
                "client": client,
                "closed_first_by": "x",
            }
        )
    return out


def test_a_connection_is_lasting_only_outside_a_fault_and_open_200_ms():
    top = get_topology("nats-3")
    hole = {
        "kind": "blackhole",
        "target": "n1-client",
        "params": {},
        "start_ns": 1_000_000_000,
        "end_ns": 3_000_000_000,
    }
    wire = (
        _conn(1500, "a")  # accepted by a blackholed link: open, but not a connection
        + _conn(3100, "b", closed_ms=3250)  # closed 150 ms after: not lasting
        + _conn(3400, "c")  # lasting
    )
    tl = _tl(wire, [hole], t1=4_000_000_000)
    assert [c["client"] for c in wire_only.lasting_connections(tl, ["n1-client"], [hole], top, 0)] == ["c"]
    o = wire_only.outage(tl, ["n1-client"], [hole], top, 0)
    assert o["attempts"] == 3 and o["order"] == ["n1-client"] * 3 and o["intervals_ms"] == [1600.0, 300.0]
    assert o["lasting_connection"] == {"link": "n1-client", "after_fault_start_ms": 2400.0, "after_heal_ms": 400.0}
    # Too young to tell: the run ended 100 ms after the accept.
    assert wire_only.lasting_connections(_tl(_conn(3900, "d"), [], 4_000_000_000), ["n1-client"], [], top, 0) == []


def test_a_service_fault_covers_the_links_to_it_and_a_kept_connection_is_named():
    top = get_topology("nats-3")
    kill = {"kind": "kill", "target": "n1", "params": {}, "start_ns": 1_000_000_000, "end_ns": None}
    assert {"n1-client", "n1-observer"} <= set(wire_only.fault_links(kill, top))
    assert wire_only.fault_links({**kill, "kind": "partition", "target": "n1|n2,n3"}, top) == []
    wire = _conn(500, "a", link="n2-client")  # open on n2 throughout: nothing to come back from
    tl = _tl(wire, [kill], t1=5_000_000_000)
    o = wire_only.outage(tl, ["n1-client", "n2-client"], [kill], top, 0)
    assert o["kept_connection_on"] == ["n2-client"] and "lasting_connection" not in o["not_measured"]
    assert o["heal_ms"] is None and o["heal_to_lasting_connection_ms"] is None


# -- on the command line -----------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "mentions"),
    [
        (["--client", "nats-go"], ["--app cannot be combined with --client"]),
        (["--options", "x.toml"], ["--app cannot be combined with --options"]),
    ],
)
def test_app_with_client_or_options_is_one_line_exit_2(harness: Harness, extra: list[str], mentions: list[str]):
    r = harness.run("run", "nats.single.refused", "--app", f"{sys.executable} {PROGRAM} {{n1-client}}", *extra)
    assert_one_line(r, 2, *mentions)
    assert harness.children() == {}


def test_an_unknown_link_is_one_line_before_anything_starts(harness: Harness, tmp_path: Path):
    r = harness.run("run", "nats.single.refused", "--app", "/bin/true {n2-client}", "--out", str(tmp_path / "o"))
    assert_one_line(r, 2, "no client link 'n2-client'", "n1-client")
    assert not (tmp_path / "o").exists() and harness.children() == {}


def test_a_real_program_is_run_judged_from_the_wire_and_stopped(harness: Harness, tmp_path: Path):
    out = tmp_path / "out"
    command = f"{sys.executable} {PROGRAM} {{n1-client}}"
    r = harness.run("run", "nats.single.reset", "--app", command, "--jobs", "3", "--out", str(out), timeout=240)
    assert r.returncode == 0 and "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert "one after another" in r.stdout  # --app runs one job
    res = results.load(out / results.FILENAME)
    e = res["entries"][0]
    assert (e["client"], e["status"], res["run"]["app"]) == ("app", "ok", command), e["error"]
    assert e["app"]["links"] == ["n1-client"] and e["app"]["argv"][-1] == e["links"]["n1-client"]
    assert e["app"]["exited_on_its_own"] is False
    assert {c["verdict"] for c in e["checks"]} == {"not-measured"}
    o = e["metrics"]["wire_outages"][0]
    assert o["attempts"] >= 5 and o["not_measured"] == {} and o["lasting_connection"]["link"] == "n1-client"
    work = out / "work" / "nats.single.reset--app"
    log = (work / "app.log").read_text()
    assert "connected" in log and "reconnected" in log
    assert not (work / "replay.json").exists()
    assert harness.children() == {}, "something the run started is still running"


def test_ctrl_c_stops_the_program_too(harness: Harness, tmp_path: Path):
    out = tmp_path / "out"
    p, stdout, stderr = harness.start(
        "run", "nats.single.refused", "--app", f"{sys.executable} {PROGRAM} {{n1-client}}", "--out", str(out)
    )
    log = out / "work" / "nats.single.refused--app" / "app.log"
    poll(lambda: p.poll() is not None or (log.exists() and "connected" in log.read_text()), 90, "the program connected")
    assert p.poll() is None, stdout.read_text() + stderr.read_text()
    assert any(str(PROGRAM) in cmd for cmd in harness.children().values()), harness.children()
    p.send_signal(signal.SIGINT)
    assert p.wait(25) == 130, stdout.read_text() + stderr.read_text()
    assert harness.children() == {}, "the program (or a server) outlived the run"
    e = results.load(out / results.FILENAME)["entries"][0]
    assert (e["status"], e["client"], e["app"]["exited_on_its_own"]) == ("interrupted", "app", False)


def test_reports_show_app_entries(tmp_path: Path):
    from harness import report
    from harness.report import terminal

    res = {**results.new("local", 1), "entries": list(_recorded().values())}
    results.finish(res, True)
    table = terminal.render(res)
    assert "app" in table and "(not instrumented)" in table
    html, md = report.write(res, tmp_path)
    assert "app_nats.py" in html.read_text() and "app" in md.read_text()


def test_a_wait_only_a_driver_can_answer_is_named_in_the_reason():
    mark = {"t_ns": 5, "kind": "mark", "label": "unanswerable_wait", "to": "client", "kinds": ["subscribed"]}
    tl = Timeline(merge([], [], [], [mark]), [], 0, 10)
    assert wire_only.unanswerable(tl) == ["subscribed"]
    assert wire_only.reason(tl).startswith(wire_only.NOT_INSTRUMENTED)
    assert "waited for the client's subscribed" in wire_only.reason(tl)
