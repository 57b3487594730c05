"""Every registered driver against docs/driver-contract.md: real drivers, real servers
(nats-server, ActiveMQ Artemis) behind a real Toxiproxy."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from support import poll

from harness import baseline, paths, topology
from harness.backends.local import LocalTopology
from harness.contracts import problems
from harness.drivers import registry
from harness.drivers.process import DriverProcess

DRIVERS = sorted(registry.all_drivers())
NATS_DRIVERS = [n for n in DRIVERS if registry.get(n).family == "nats"]
AMQP_DRIVERS = [n for n in DRIVERS if registry.get(n).family == "amqp"]

# Per family: the topology, the faulted link and the URL scheme a driver is tested with.
FAMILY = {
    "nats": {"topology": "nats-single", "link": "n1-client", "scheme": "nats"},
    "amqp": {"topology": "artemis-3", "link": "a1-client", "scheme": "amqp"},
}


def documented_options(family: str) -> dict[str, str]:
    """The family's option table in docs/driver-contract.md: the one list of names."""
    text = (paths.ROOT / "docs" / "driver-contract.md").read_text()
    section = text.split(f"### {family.upper()} options", 1)[1].split("\n### ", 1)[0]
    # Names may hold dots: a library's own option names (qpid-jms's failover.reconnectDelay).
    return dict(re.findall(r"^\| `([\w.]+)` \| (\w+) \|", section, flags=re.M))


def failed_attempts(client: str, max_reconnect: int) -> int:
    """Failed reconnect attempts before `closed`: MaxReconnect, or one more for a client
    the baseline holds to a MaxReconnect deviation in nats.single.giveup (nats-py and
    jnats make MaxReconnect + 1), so that fact lives in the baseline only."""
    known = baseline.load(paths.ROOT / "scenarios" / "baseline.toml")
    return max_reconnect + (("nats.single.giveup", client, "MaxReconnect") in known)


RATE, SIZE = 100, 64
COMMANDED, COMMANDED_SIZE = 50, 200


def run_driver(name: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    spec = registry.get(name)
    return subprocess.run(
        [*spec.argv(), *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def config(name: str, servers: list[str], options: dict, **workload) -> dict:
    return {
        "contract": 1,
        "client": name,
        "servers": servers,
        "options": options,
        "workload": {"subject": f"t.{uuid.uuid4().hex[:10]}", "subscribe": False, "publish": None, **workload},
    }


def of(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["kind"] == kind]


def tail(d: DriverProcess, n: int = 8) -> str:
    return f"last events: {[(e['kind'], e.get('seq')) for e in d.snapshot()[-n:]]}; problems: {d.problems}"


def check_lateness(events: list[dict], observes: list[str]) -> None:
    """The optional `lateness` event (docs/driver-contract.md): a driver that declares it
    prints one per window of about a second, valid, the last just before `stopped`,
    over the wake-ups of a timer it kept armed from its start; a driver that does not
    declare it prints none."""
    late = of(events, "lateness")
    if "lateness" not in observes:
        assert late == [], late
        return
    assert late, [e["kind"] for e in events[-3:]]
    for ev in late:
        assert problems("driver-event", ev) == []
        assert 0 <= ev["p50_ms"] <= ev["p99_ms"] <= ev["max_ms"], ev
    # A window closes at the first wake-up a second after it opened, so it spans at
    # least a second (Node's timers may fire up to a ms early) and at most a second,
    # one interval and its worst wake-up; the last closes at the stop.
    # (The first window opens when the driver's timer was armed, near its start.)
    for before, ev in itertools.pairwise(late[:-1]):
        span_ms = (ev["t_ns"] - before["t_ns"]) / 1e6
        assert 990 <= span_ms <= 1000 + ev["interval_ms"] + ev["max_ms"] + 5, (ev, span_ms)
    last = late[-1]
    gap_ms = (events[-1]["t_ns"] - last["t_ns"]) / 1e6
    assert events[-2] is last or gap_ms <= last["interval_ms"] + last["max_ms"] + 5, events[-3:]
    # Armed all along: no more wake-ups than intervals fit in the driver's life (5% for
    # Node's timers), and not far fewer than fit when each takes the interval and at
    # most the worst lateness.
    n = sum(ev["n"] for ev in late)
    worst = max(ev["max_ms"] for ev in late)
    interval = last["interval_ms"]
    life_ms = (last["t_ns"] - events[0]["t_ns"]) / 1e6
    assert n * interval <= 1.05 * life_ms + interval, (n, life_ms)
    assert n * (interval + worst) >= 0.5 * life_ms - interval, (n, life_ms)


# -- without a server -----------------------------------------------------------


@pytest.mark.parametrize("name", DRIVERS)
def test_describe(name: str):
    spec = registry.get(name)
    r = run_driver(name, "--describe")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1, r.stdout
    desc = json.loads(lines[0])
    assert problems("driver-describe", desc) == []
    assert desc["client"] == name
    assert desc["language"] == spec.language
    assert len(desc["options"]) == len(set(desc["options"])), desc["options"]
    assert {"driver_started", "stopped", "driver_error"} <= set(desc["observes"])
    table = documented_options(spec.family)
    assert table, f"no options table for {spec.family} in docs/driver-contract.md"
    undocumented = sorted(set(desc["options"]) - set(table))
    assert undocumented == [], f"{name} lists options that are not in the contract's {spec.family} table"
    wrong_kind = {k: v for k, v in desc["options"].items() if table[k] != v}
    assert wrong_kind == {}, f"{name} gives other kinds than the contract: {wrong_kind}"


@pytest.mark.parametrize("name", DRIVERS)
def test_unknown_option_is_one_driver_error(name: str, tmp_path: Path):
    cfg = tmp_path / "config.json"
    scheme = FAMILY[registry.get(name).family]["scheme"]
    cfg.write_text(json.dumps(config(name, [f"{scheme}://127.0.0.1:1"], {"NoSuchOption": 1})))
    r = run_driver(name, str(cfg))
    lines = r.stdout.splitlines()
    assert len(lines) == 1, f"exit {r.returncode}, stdout {r.stdout!r}, stderr {r.stderr!r}"
    ev = json.loads(lines[0])
    assert problems("driver-event", ev) == []
    assert ev["kind"] == "driver_error"
    assert "NoSuchOption" in ev["error"]
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "panic" not in r.stderr


@pytest.mark.parametrize("name", AMQP_DRIVERS)
def test_an_unknown_settlement_mode_is_one_driver_error(name: str, tmp_path: Path):
    cfg = tmp_path / "config.json"
    publish = {"rate": 10, "size": 64, "settlement": "sometimes"}
    cfg.write_text(json.dumps(config(name, ["amqp://127.0.0.1:1"], {}, publish=publish)))
    r = run_driver(name, str(cfg))
    lines = r.stdout.splitlines()
    assert len(lines) == 1 and r.returncode == 2, f"stdout {r.stdout!r}, stderr {r.stderr!r}"
    ev = json.loads(lines[0])
    assert ev["kind"] == "driver_error" and "settlement" in ev["error"]


@pytest.mark.parametrize("what", ["missing", "directory", "not-json"])
@pytest.mark.parametrize("name", DRIVERS)
def test_unreadable_config(name: str, what: str, tmp_path: Path):
    path = tmp_path / "config.json"
    if what == "directory":
        path.mkdir()
    elif what == "not-json":
        path.write_text("{not json")
    r = run_driver(name, str(path))
    assert r.returncode == 2, f"stdout {r.stdout!r}, stderr {r.stderr!r}"
    assert "Traceback" not in r.stdout + r.stderr
    assert "panic" not in r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1, r.stdout
    ev = json.loads(lines[0])
    assert problems("driver-event", ev) == [] and ev["kind"] == "driver_error", ev


# -- against a real server ------------------------------------------------------


@pytest.fixture
def live(request, tmp_path: Path):
    family = FAMILY[registry.get(request.node.callspec.params["name"]).family]
    lv = LocalTopology.up(topology.get(family["topology"]), tmp_path / "topology")
    lv.link = family["link"]
    try:
        yield lv
    finally:
        lv.down()


@pytest.mark.parametrize("name", DRIVERS)
def test_steady_workload_and_commanded_publish(name: str, live, tmp_path: Path):
    spec = registry.get(name)
    desc = registry.describe(spec)
    cfg = config(name, [live.url(live.link)], {}, subscribe=True, publish={"rate": RATE, "size": SIZE})
    before = time.monotonic_ns()
    d = DriverProcess(spec, "t", cfg, tmp_path / "driver")
    try:
        assert d.wait_count("received", 20, 20), tail(d)
        d.send({"cmd": "publish", "count": COMMANDED, "size": COMMANDED_SIZE})

        def commanded() -> list[int]:
            return [e["seq"] for e in d.snapshot() if e["kind"] == "published" and e["bytes"] == COMMANDED_SIZE]

        assert poll(lambda: len(commanded()) >= COMMANDED, 20), tail(d)

        def all_commanded_received() -> bool:
            got = {e["seq"] for e in d.snapshot() if e["kind"] == "received"}
            return set(commanded()) <= got

        assert poll(all_commanded_received, 10), tail(d)
    finally:
        rc = d.stop()
    after = time.monotonic_ns()
    events = d.snapshot()

    assert d.problems == []
    assert rc == 0
    assert not d.proc.alive()
    assert events[0]["kind"] == "driver_started", events[:3]
    assert events[-1]["kind"] == "stopped", events[-3:]
    stamps = [e["t_ns"] for e in events]
    assert all(before <= t <= after for t in stamps), (before, min(stamps), max(stamps), after)
    assert events[0]["t_ns"] == min(stamps) and events[-1]["t_ns"] == max(stamps)
    assert {e["kind"] for e in events} <= set(desc["observes"])
    check_lateness(events, desc["observes"])

    connected = of(events, "connected")
    assert len(connected) == 1 and connected[0]["url"], connected
    # The one subscription: a NATS subscribe call, or an AMQP receiver link.
    subscribed = of(events, "subscribed") or [e for e in of(events, "link_opened") if e["role"] == "receiver"]
    assert [e.get("subject", e.get("address")) for e in subscribed] == [cfg["workload"]["subject"]]
    published, received = of(events, "published"), of(events, "received")
    assert of(events, "publish_failed") == [] and of(events, "driver_error") == []
    assert connected[0]["t_ns"] <= min(e["t_ns"] for e in published)
    assert subscribed[0]["t_ns"] <= min(e["t_ns"] for e in received)

    seqs = [e["seq"] for e in published]
    assert sorted(seqs) == list(range(1, len(seqs) + 1)), "published seqs are not 1..N without gaps"
    sizes = {e["seq"]: e["bytes"] for e in published}
    assert sum(1 for b in sizes.values() if b == COMMANDED_SIZE) == COMMANDED
    assert set(sizes.values()) == {SIZE, COMMANDED_SIZE}
    got = [e["seq"] for e in received]
    assert len(got) == len(set(got)), "a message was received twice"
    assert set(got) <= set(seqs), sorted(set(got) - set(seqs))[:10]

    # The steady publisher keeps to the configured rate (absolute pacing). At least half the
    # rate over the time it published: to stopped would count the stop, which a loaded
    # machine stretches for a JVM (qpid-jms: 71 in 1.87 s at load 11). At most the rate
    # since connected, where pacing starts: a late message catches up, so the rate between
    # the first and last publish can exceed it after a stall (qpid-jms: 42 in 0.357 s,
    # the commanded burst holding its one send thread).
    steady = [e["t_ns"] for e in published if e["bytes"] == SIZE]
    publishing_s = (max(steady) - min(steady)) / 1e9
    paced_s = (max(steady) - connected[0]["t_ns"]) / 1e9
    assert 0.5 * RATE * publishing_s <= len(steady), (len(steady), publishing_s)
    assert len(steady) <= RATE * paced_s + 5, (len(steady), paced_s)


BURST = 20_000


@pytest.mark.parametrize("name", NATS_DRIVERS)
def test_what_was_accepted_before_stop_is_delivered(name: str, live, tmp_path: Path):
    """A burst then `stop` at once: a witness gets every message the library accepted.
    jnats's close dropped what it still held (the last 19 and 168 of 100,000 in 2 of 14
    runs, 77 at the end of a loaded compose run), which read as a silent loss. Without
    the driver's flush this fails only by chance: when the library's writer lags at the
    close."""
    spec = registry.get(name)
    sub = config(name, [live.url(live.link)], {}, subscribe=True)
    pub = config(name, [live.url(live.link)], {}, subject=sub["workload"]["subject"])
    witness = DriverProcess(spec, "w", sub, tmp_path / "witness")
    try:
        assert witness.wait_count("subscribed", 1, 20), tail(witness)
        p = DriverProcess(spec, "p", pub, tmp_path / "publisher")
        try:
            assert p.wait_count("connected", 1, 20), tail(p)
            p.send({"cmd": "publish", "count": BURST, "size": 64})
            p.send({"cmd": "stop"})
        finally:
            assert p.stop() == 0, tail(p)
        accepted = {e["seq"] for e in of(p.snapshot(), "published")}
        assert len(accepted) == BURST, tail(p)

        def delivered() -> set[int]:
            return {e["seq"] for e in of(witness.snapshot(), "received")}

        poll(lambda: accepted <= delivered(), 5)
        missing = sorted(accepted - delivered())
        assert not missing, f"{len(missing)} accepted never arrived, seq {missing[0]} to {missing[-1]}"
    finally:
        witness.stop()


@pytest.mark.parametrize("name", NATS_DRIVERS)
def test_reconnect_options_reach_library(name: str, live, tmp_path: Path):
    spec = registry.get(name)
    desc = registry.describe(spec)
    # async-nats has no fixed wait: its reconnect delay callback is how one sets it.
    wait = "ReconnectWait" if "ReconnectWait" in desc["options"] else "CustomReconnectDelay"
    cfg = config(name, [live.url("n1-client")], {wait: 300, "MaxReconnect": 2})
    d = DriverProcess(spec, "t", cfg, tmp_path / "driver")
    try:
        assert d.wait_for(lambda e: e["kind"] == "connected", 20), tail(d)
        cut_ns = time.monotonic_ns()
        live.toxiproxy.set_enabled("n1-client", False)
        closed = d.wait_for(lambda e: e["kind"] == "closed", 10)
    finally:
        rc = d.stop()
        live.reset()
    events = d.snapshot()
    assert d.problems == [] and rc == 0

    assert closed is not None, tail(d, 12)
    assert closed["t_ns"] - cut_ns < 5e9, f"closed {(closed['t_ns'] - cut_ns) / 1e6:.0f} ms after the cut"
    lost = [e for e in events if e["kind"] == "disconnected" and cut_ns <= e["t_ns"] <= closed["t_ns"]]
    assert lost, tail(d, 12)
    failed = [e for e in events if e["kind"] == "attempt_failed" and cut_ns <= e["t_ns"] <= closed["t_ns"]]
    tried = [e for e in events if e["kind"] == "attempt" and cut_ns <= e["t_ns"] <= closed["t_ns"]]
    # Attempts as the library lets the driver see them: their starts where it says
    # so, else its failure reports (nats.js reports a refused attempt only now and
    # then through its status iterator, but calls the driver before every attempt).
    seen = tried if "attempt" in desc["observes"] else failed
    assert len(seen) == failed_attempts(name, 2), [(e["t_ns"] - cut_ns) / 1e6 for e in seen]
    if failed and tried:
        assert len(tried) == len(failed)
    # The wait is between attempts: a library may try once at once after the loss (jnats
    # waits only before a server it already tried).
    times = [e["t_ns"] for e in seen] if len(seen) > 1 else [lost[0]["t_ns"], seen[0]["t_ns"]]
    gaps_ms = [(b - a) / 1e6 for a, b in itertools.pairwise(times)]
    assert all(250 <= g <= 1000 for g in gaps_ms), f"ReconnectWait 300 ms, waits between attempts: {gaps_ms}"
    assert closed["t_ns"] >= seen[-1]["t_ns"]


@pytest.mark.parametrize("name", AMQP_DRIVERS)
def test_amqp_delay_option_reaches_library(name: str, live, tmp_path: Path):
    """max_reconnect_delay 300 ms: the waits between failed attempts grow to 300 ms and stop there."""
    spec = registry.get(name)
    cfg = config(name, [live.url(live.link)], {"max_reconnect_delay": 300})
    d = DriverProcess(spec, "t", cfg, tmp_path / "driver")
    try:
        assert d.wait_for(lambda e: e["kind"] == "connected", 30), tail(d)
        cut_ns = time.monotonic_ns()
        live.toxiproxy.set_enabled(live.link, False)
        # Ten: qpid-jms starts at 10 ms and reaches 300 ms only at its seventh wait.
        assert d.wait_count("attempt_failed", 10, 10), tail(d, 12)
    finally:
        rc = d.stop()
        live.reset()
    events = d.snapshot()
    assert d.problems == [] and rc == 0
    failed = [e["t_ns"] for e in events if e["kind"] == "attempt_failed" and e["t_ns"] >= cut_ns]
    gaps_ms = [(b - a) / 1e6 for a, b in itertools.pairwise(failed)]
    assert all(g <= 1000 for g in gaps_ms), f"a wait beyond the 300 ms cap: {gaps_ms}"
    assert sum(1 for g in gaps_ms if 250 <= g <= 600) >= 3, f"no run of waits at the 300 ms cap: {gaps_ms}"


@pytest.mark.parametrize("name", DRIVERS)
def test_many_connections_in_one_process(name: str, tmp_path: Path):
    """The contract's optional `connections`: every event of a connection names it,
    sequence numbers stay unique across connections, and `stopped` counts the lines."""
    spec = registry.get(name)
    if not registry.describe(spec).get("connections"):
        pytest.skip(f"the {name} driver takes no `connections`")
    # Started only for a driver that takes `connections`, and one server is enough:
    # an Artemis broker takes seconds to start.
    family = FAMILY[spec.family]
    one = topology.artemis_brokers(1) if spec.family == "amqp" else topology.get(family["topology"])
    live = LocalTopology.up(one, tmp_path / "topology")
    n = 3
    try:
        cfg = {**config(name, [live.url(family["link"])], {}, publish={"rate": 20, "size": 16}), "connections": n}
        d = DriverProcess(spec, "t", cfg, tmp_path / "driver")
        try:
            assert d.wait_count("connected", n, 20), tail(d)
            time.sleep(0.5)
        finally:
            rc = d.stop()
    finally:
        live.down()
    events = d.snapshot()
    assert d.problems == [] and rc == 0, d.problems
    process = {"driver_started", "stopped", "lateness"}  # events of the process, not of a connection
    assert all("conn" not in e for e in events if e["kind"] in process)
    assert all(e.get("conn") in range(n) for e in events if e["kind"] not in process), events[:5]
    assert {e["conn"] for e in of(events, "connected")} == set(range(n))
    assert {e["conn"] for e in of(events, "published")} == set(range(n))
    seqs = [e["seq"] for e in of(events, "published")]
    assert sorted(seqs) == list(range(1, len(seqs) + 1)), "one sequence for every connection of the process"
    assert events[-1]["kind"] == "stopped" and events[-1]["emitted"] == len(events) - 1
