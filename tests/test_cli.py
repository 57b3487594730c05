"""The `harness` command line, run as a real subprocess against real servers and drivers.

Every harness subprocess of a test gets its own HARNESS_STATE_DIR (port claims and
process records) and a unique HARNESS_TEST_TAG in its environment. Every process it
starts inherits that environment, so the processes of one test can be told apart
from those of other tests running in parallel, also after the harness is gone.

At the end, the property: any command line, run in-process (cli.main) with every process
start refused, gives an exit code and at most one line of error (strategies.py).
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from fnmatch import fnmatch
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import DEPTHS, JSON_VALUES, SETTINGS, TEXT, TOML_VALUES, Counter, deep, fragments, one_line, to_toml
from support import poll

from harness import __version__, cli, compose_file, expectations, paths, ports, procs, replay, results
from harness.drivers import registry
from harness.errors import Stopped, interruption, stop_exit_code, stop_reason
from harness.judging.entry import applicable_checks
from harness.scenario import load_all

HARNESS = str(Path(paths.python()).parent / "harness")
if not Path(HARNESS).exists():
    HARNESS = str(paths.ROOT / ".venv" / "bin" / "harness")
TOOLS_BIN = paths.TOOLS.resolve() / "bin"  # as the manifest names them, also from a worktree
# What `pgrep -f` is asked about for the host-wide counts in assertion messages.
PGREP = {
    "nats-server": str(TOOLS_BIN / "nats-server"),
    "toxiproxy-server": str(TOOLS_BIN / "toxiproxy-server"),
    "driver": r"driver-nats-go|nats_py/driver\.py",
}
SHORT = "nats.single.no-reconnect"
LONG = "nats.single.refused"
TAG_VAR = "HARNESS_TEST_TAG"


# -- processes and ports ------------------------------------------------------


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a pid, or None if it does not exist."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], fields[19]


def running(pid: int, start: str | None = None) -> bool:
    """True if pid exists, is not a zombie (dead, waiting to be reaped) and, if
    given, still has the start time it had when we saw it."""
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X") and (start is None or st[1] == start)


def tagged(tag: str) -> dict[int, str]:
    """Live processes whose environment carries our tag: pid -> command line."""
    want = f"{TAG_VAR}={tag}".encode()
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            if want not in env:
                continue
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if running(pid):
            out[pid] = cmd
    return out


def host_counts() -> dict[str, int]:
    """Host-wide process counts (every test and user included): for messages only."""
    out = {}
    for name, pattern in PGREP.items():
        r = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, timeout=10)
        out[name] = len(r.stdout.split())
    return out


def conf_ports(out: Path) -> set[int]:
    """Ports named in the run's nats-server configs (listen, http, client_advertise)."""
    found = set()
    for conf in out.glob("work/topology-*/*.conf"):
        found |= {int(p) for p in re.findall(r'^\s*\w+:\s*"127\.0\.0\.1:(\d+)"', conf.read_text(), re.M)}
    return found


def claimed_ports(state: Path) -> set[int]:
    folder = state / "ports"
    return {int(p.name) for p in folder.iterdir() if p.name.isdigit()} if folder.exists() else set()


def refuses(url: str) -> bool:
    host, port = url.split("://")[1].rsplit(":", 1)
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, int(port))) != 0


def first_line_from(url: str) -> str:
    host, port = url.split("://")[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.settimeout(5)
        data = b""
        while b"\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.decode(errors="replace").split("\n")[0]


# -- running the CLI ----------------------------------------------------------


def _default_sigint() -> None:
    # A shell starting a background job may leave SIGINT ignored, and a Python
    # started that way never raises KeyboardInterrupt. A user's terminal does not.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Harness:
    """`harness` subprocesses of one test: own state folder, own environment tag."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.tag = uuid.uuid4().hex
        self.state = tmp_path / "state"
        self.env = {**os.environ, "HARNESS_STATE_DIR": str(self.state), TAG_VAR: self.tag}
        self.started: list[subprocess.Popen] = []

    def run(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
        return subprocess.run(
            [HARNESS, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            cwd=self.tmp,
            stdin=subprocess.DEVNULL,
            preexec_fn=_default_sigint,
        )

    def start(self, *args: str, name: str = "h") -> tuple[subprocess.Popen, Path, Path]:
        """Start `harness ARGS` in the background; stdout and stderr go to files."""
        out, err = self.tmp / f"{name}.stdout", self.tmp / f"{name}.stderr"
        with open(out, "wb") as fo, open(err, "wb") as fe:
            p = subprocess.Popen(
                [HARNESS, *args],
                stdout=fo,
                stderr=fe,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.tmp,
                preexec_fn=_default_sigint,
            )
        self.started.append(p)
        return p, out, err

    def children(self) -> dict[int, str]:
        """Our tagged processes other than the harness processes themselves."""
        own = {p.pid for p in self.started}
        return {pid: cmd for pid, cmd in tagged(self.tag).items() if pid not in own}

    def cleanup(self) -> None:
        for p in self.started:
            if p.poll() is None:
                p.kill()
            p.wait(10)
        # What a failed test left: first the harness's own way, then by pid.
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.run("down", timeout=30)
        for pid in tagged(self.tag):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def assert_one_line(r: subprocess.CompletedProcess, code: int, *mentions: str) -> None:
    where = f"exit {r.returncode}\nstdout: {r.stdout!r}\nstderr: {r.stderr!r}"
    assert "Traceback" not in r.stdout + r.stderr, where
    assert r.returncode == code, where
    lines = r.stderr.splitlines()
    assert len(lines) == 1, where
    assert lines[0].startswith("harness: "), where
    for m in mentions:
        assert m in lines[0], f"{m!r} not named; {where}"


# -- bad input ----------------------------------------------------------------

OPTION_FILES = {
    "invalid-toml": ("opts.toml", "ReconnectWait = \n", ["not valid TOML", "opts.toml"]),
    "invalid-json": ("opts.json", '{"ReconnectWait": }', ["not valid JSON", "opts.json"]),
    "unknown-option": ("opts.toml", "NoSuchOption = 1\n", ["unknown option", "NoSuchOption"]),
    "string-value": ("opts.toml", 'ReconnectWait = "500"\n', ["ReconnectWait", "takes a duration in milliseconds"]),
    # Seen passing the check, then failing in the Go driver as an environment error.
    "float-count": ("opts.toml", "MaxReconnect = 5.0\n", ["MaxReconnect = 5.0", "nats-go takes a whole number"]),
    "huge-float-count": ("opts.toml", "MaxReconnect = 1e18\n", ["MaxReconnect = 1e+18", "from -1 to"]),
    "negative-duration": ("opts.toml", "ReconnectWait = -1\n", ["ReconnectWait = -1", "from 0 to 9223372036854"]),
    "duration-past-int64-ns": ("opts.toml", "Timeout = 9223372036855\n", ["Timeout", "from 0 to 9223372036854"]),
    "not-a-table": ("opts.json", "[500]", ["must hold a table"]),
}


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["run", "nats.nope"], ["unknown scenario", "nats.nope"]),
        (["run", LONG, "--client", "nope"], ["unknown client", "nope"]),
        (["run", LONG, "--client", "nats-go", "--backend", "nope"], ["unknown backend", "nope"]),
        (["up", "--topology", "nope"], ["unknown topology", "nope"]),
        (["run", LONG, "--jobs", "0"], ["--jobs must be at least 1", "0"]),
        (["run", LONG, "--jobs", "-3"], ["--jobs must be at least 1", "-3"]),
        (["run", LONG, "--jobs", "autox"], ["--jobs must be a number of jobs or auto", "autox"]),
    ],
    ids=[
        "unknown-scenario",
        "unknown-client",
        "unknown-backend",
        "unknown-topology",
        "jobs-0",
        "jobs-neg",
        "jobs-word",
    ],
)
def test_bad_argument_is_one_line_exit_2(harness: Harness, tmp_path: Path, args: list[str], mentions: list[str]):
    if args[0] == "run":
        args = [*args, "--out", str(tmp_path / "out")]
    r = harness.run(*args)
    assert_one_line(r, 2, *mentions)
    assert harness.children() == {}


@pytest.mark.parametrize("case", sorted(OPTION_FILES))
def test_bad_options_file_is_one_line_exit_2(harness: Harness, tmp_path: Path, case: str):
    filename, text, mentions = OPTION_FILES[case]
    opts = tmp_path / filename
    opts.write_text(text)
    r = harness.run("run", LONG, "--client", "nats-go", "--options", str(opts), "--out", str(tmp_path / "out"))
    assert_one_line(r, 2, *mentions)
    assert harness.children() == {}


def test_missing_options_file_is_one_line_exit_2(harness: Harness, tmp_path: Path):
    r = harness.run("run", LONG, "--options", str(tmp_path / "absent.toml"), "--out", str(tmp_path / "out"))
    assert_one_line(r, 2, "cannot read options file", "absent.toml")
    assert harness.children() == {}


def test_family_mismatch_is_one_line_exit_2(harness: Harness, tmp_path: Path):
    scenarios = load_all()
    pair = next(
        (
            (sc.name, spec.name)
            for sc in scenarios.values()
            for spec in registry.all_drivers().values()
            if spec.family != sc.family
        ),
        None,
    )
    if pair is None:
        families = sorted({s.family for s in scenarios.values()} | {d.family for d in registry.all_drivers().values()})
        pytest.skip(f"every scenario and client is of one family ({', '.join(families)}): no mismatch to construct")
    r = harness.run("run", pair[0], "--client", pair[1], "--out", str(tmp_path / "out"))
    assert_one_line(r, 2, "no scenario matches")
    assert harness.children() == {}


def test_compose_backend_without_an_engine_is_one_line_and_leaves_nothing(harness: Harness, tmp_path: Path):
    harness.env["DOCKER_HOST"] = f"unix://{tmp_path}/no-engine.sock"
    r = harness.run("run", LONG, "--client", "nats-go", "--backend", "compose", "--out", str(tmp_path / "out"))
    assert_one_line(r, 3, "no container engine answers", "no-engine.sock")
    assert harness.children() == {}


def test_unknown_backend_is_one_line_exit_2(harness: Harness, tmp_path: Path):
    r = harness.run("run", LONG, "--client", "nats-go", "--backend", "kubernetes", "--out", str(tmp_path / "out"))
    assert_one_line(r, 2, "kubernetes", "compose")


def test_out_is_a_file_is_one_line(harness: Harness, tmp_path: Path):
    afile = tmp_path / "afile"
    afile.write_text("")
    r = harness.run("run", SHORT, "--client", "nats-go", "--out", str(afile))
    assert harness.children() == {}
    assert_one_line(r, 2, str(afile))


def test_out_onto_an_earlier_run_is_refused_in_one_line(harness: Harness, tmp_path: Path):
    out = tmp_path / "out"
    results.write(results.new("local", 1), out)
    before = (out / results.FILENAME).read_text()
    r = harness.run("run", SHORT, "--client", "nats-go", "--out", str(out))
    assert_one_line(r, 2, str(out), "earlier run", "--force")
    assert harness.children() == {} and (out / results.FILENAME).read_text() == before


def test_report_that_cannot_be_written_is_one_line(harness: Harness, tmp_path: Path):
    out = tmp_path / "out"
    results.write(results.new("local", 1), out)
    (out / "report.html").mkdir()  # as a read-only folder would (the tests may run as root, who can write anyway)
    assert_one_line(harness.run("report", str(out)), 2, "cannot write the report", "report.html")
    (tmp_path / "dir" / results.FILENAME).mkdir(parents=True)
    assert_one_line(harness.run("report", str(tmp_path / "dir")), 2, "results.json", "not a readable results file")


def test_unwritable_out_is_one_line_before_anything_starts(harness: Harness, tmp_path: Path):
    out = tmp_path / "out"
    (out / results.FILENAME).mkdir(parents=True)  # results.json cannot be written there
    r = harness.run("run", SHORT, "--client", "nats-go", "--out", str(out), "--force")
    assert_one_line(r, 2, "cannot use", str(out))
    assert harness.children() == {}


def test_boolean_duration_option_is_one_line_exit_2(harness: Harness, tmp_path: Path):
    opts = tmp_path / "opts.toml"
    opts.write_text("ReconnectWait = true\n")
    r = harness.run("run", SHORT, "--client", "nats-go", "--options", str(opts), "--out", str(tmp_path / "out"))
    assert harness.children() == {}
    assert_one_line(r, 2, "ReconnectWait")


@pytest.mark.parametrize("args", [[], ["nope"]], ids=["no-command", "unknown-command"])
def test_argparse_errors_exit_2(harness: Harness, args: list[str]):
    r = harness.run(*args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "usage: harness" in r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert harness.children() == {}


@pytest.mark.parametrize("args", [["run"], ["run", "--client", "nats-go"]], ids=["no-scenario", "client-no-scenario"])
def test_run_without_a_scenario_is_one_line(harness: Harness, args: list[str]):
    r = harness.run(*args)
    assert_one_line(r, 2, "name at least one scenario")
    assert harness.children() == {}


# -- help and list ------------------------------------------------------------


def test_help(harness: Harness):
    r = harness.run("--help")
    assert r.returncode == 0, r.stderr
    for word in ("run", "list", "up", "down"):
        assert re.search(rf"^\s+{word}\s", r.stdout, re.M), f"subcommand {word!r} missing from:\n{r.stdout}"
    assert "examples:" in r.stdout
    assert r.stderr == ""


def test_version(harness: Harness):
    r = harness.run("--version")
    assert (r.returncode, r.stdout, r.stderr) == (0, f"harness {__version__}\n", "")


def test_python_dash_m_harness(harness: Harness):
    r = subprocess.run(
        [paths.python(), "-m", "harness", "--version"], capture_output=True, text=True, env=harness.env, timeout=60
    )
    assert (r.returncode, r.stdout.strip()) == (0, f"harness {__version__}"), r.stderr


def test_run_help(harness: Harness):
    r = harness.run("run", "--help")
    assert r.returncode == 0, r.stderr
    for opt in ("SCENARIO", "--client", "--out", "--options", "--backend", "--seed"):
        assert opt in r.stdout, f"{opt!r} missing from:\n{r.stdout}"
    assert r.stderr == ""


def test_list_names_every_scenario_and_client(harness: Harness):
    r = harness.run("list")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    names = set(load_all())
    assert names, "no scenarios found in scenarios/"
    listed = set(re.findall(r"^\s+(\S+)\s+\[", r.stdout, re.M))
    missing = names - listed
    assert not missing, f"not listed: {sorted(missing)}\n{r.stdout}"
    clients = {"nats-go", "nats-py"} | set(registry.all_drivers())
    assert clients <= listed, f"clients not listed: {sorted(clients - listed)}\n{r.stdout}"


# -- a real run ---------------------------------------------------------------


def test_short_run_writes_valid_results(harness: Harness, tmp_path: Path):
    out = tmp_path / "out"
    results.write(results.new("local", 1), out)  # an earlier run's: --force writes over it
    r = harness.run("run", SHORT, "--client", "nats-go", "--out", str(out), "--force", timeout=120)
    assert r.returncode == 0, f"stdout: {r.stdout}\nstderr: {r.stderr}"
    assert "Traceback" not in r.stdout + r.stderr
    res = results.load(out / results.FILENAME)
    assert res["complete"] is True
    assert len(res["entries"]) == 1
    entry = res["entries"][0]
    assert (entry["scenario"], entry["client"], entry["status"]) == (SHORT, "nats-go", "ok"), entry["error"]
    sc = load_all()[SHORT]
    want = applicable_checks(sc, expectations.for_client("nats-go", "nats"))
    got = [c["id"] for c in entry["checks"]]
    assert sorted(got) == sorted(want)
    assert len(got) == len(set(got))
    # The summary table: a row for the scenario whose cell counts the verdicts.
    verdicts = [c["verdict"] for c in entry["checks"]]
    cell = f"{verdicts.count('conforms')}/{verdicts.count('deviates')}/{verdicts.count('not-measured')}"
    rows = [line.split() for line in r.stdout.splitlines() if line.startswith(SHORT)]
    assert [SHORT, cell] in rows, r.stdout
    assert harness.children() == {}
    used = conf_ports(out)
    assert len(used) == 3, used
    assert [p for p in used if not ports.bindable(p)] == []


# -- interruption -------------------------------------------------------------


def _started_scenario(p: subprocess.Popen, stdout: Path, out: Path, h: Harness, driver_dir: str) -> bool:
    """The run printed its start, its nats-server runs, and the client connected."""
    if p.poll() is not None:
        return True  # let the caller see the exit
    if "Running" not in stdout.read_text():
        return False
    if not any(PGREP["nats-server"] in cmd and str(out) in cmd for cmd in h.children().values()):
        return False
    events = out / "work" / driver_dir / "client.events.jsonl"
    return events.exists() and '"connected"' in events.read_text()


def test_a_recorded_interruption_is_raised_again_with_its_signal():
    for e in (KeyboardInterrupt(), Stopped(signal.SIGTERM)):
        again = interruption(stop_reason(e))
        assert (type(again), stop_reason(again), stop_exit_code(again)) == (type(e), stop_reason(e), stop_exit_code(e))
    assert (stop_reason(Stopped(signal.SIGTERM)), stop_exit_code(Stopped(signal.SIGTERM))) == (
        "stopped by SIGTERM",
        143,
    )
    assert (stop_reason(KeyboardInterrupt()), stop_exit_code(KeyboardInterrupt())) == ("interrupted by the user", 130)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_run_stops_everything(harness: Harness, tmp_path: Path, sig: signal.Signals):
    out = tmp_path / "out"
    host_before = host_counts()
    p, stdout, stderr = harness.start("run", LONG, "--client", "nats-py", "--out", str(out))
    poll(lambda: _started_scenario(p, stdout, out, harness, f"{LONG}--nats-py"), 60)
    assert p.poll() is None, f"harness exited early ({p.returncode}): {stdout.read_text()} {stderr.read_text()}"
    assert _started_scenario(p, stdout, out, harness, f"{LONG}--nats-py"), (
        f"the scenario did not start within 60 s: {stdout.read_text()} {harness.children()}"
    )

    run_ports = claimed_ports(harness.state) | conf_ports(out)
    during = harness.children()
    listening_during = [port for port in run_ports if ports.listening(port)]
    host_during = host_counts()

    t0 = time.monotonic()
    p.send_signal(sig)
    try:
        rc = p.wait(25)
    except subprocess.TimeoutExpired:
        rc = None
    took = time.monotonic() - t0

    after = harness.children()
    listening_after = [port for port in run_ports if ports.listening(port)]
    unbindable = [port for port in run_ports if not ports.bindable(port)]
    host_after = host_counts()
    numbers = (
        f"{sig.name}: exit {rc} after {took:.2f}s; this run's processes: {len(during)} before the signal "
        f"({sorted(during.values())}), {len(after)} after ({sorted(after.values())}); this run's ports "
        f"{sorted(run_ports)}: {len(listening_during)} listening before, {len(listening_after)} after, "
        f"not bindable after: {unbindable}; host-wide before the run {host_before}, during {host_during}, "
        f"after {host_after}"
    )
    print(numbers)
    err, so = stderr.read_text(), stdout.read_text()
    assert rc == 128 + sig, f"{numbers}\nstdout: {so}\nstderr: {err}"  # 130 for Ctrl-C, 143 for SIGTERM
    assert took < 20, numbers
    assert len(during) == 3, numbers  # toxiproxy-server, nats-server, the driver
    assert len(run_ports) == 6 and len(listening_during) >= 4, numbers
    assert "Traceback" not in so + err
    lines = err.splitlines()
    said = "interrupted" if sig == signal.SIGINT else "stopped by SIGTERM"
    assert len(lines) == 1 and lines[0].startswith(f"harness: {said}"), err
    res = results.load(out / results.FILENAME)
    assert res["complete"] is False
    reason = "interrupted by the user" if sig == signal.SIGINT else "stopped by SIGTERM"
    assert [(e["status"], e["error"]) for e in res["entries"]] == [("interrupted", reason)]
    assert res["entries"][0]["outcome"]["reason"] == reason
    assert after == {}, numbers
    assert listening_after == [] and unbindable == [], numbers


def test_killed_run_children_die_and_down_reaps(harness: Harness, tmp_path: Path):
    out = tmp_path / "out"
    p, stdout, stderr = harness.start("run", LONG, "--client", "nats-go", "--out", str(out))
    poll(lambda: _started_scenario(p, stdout, out, harness, f"{LONG}--nats-go"), 60)
    assert p.poll() is None, f"harness exited early ({p.returncode}): {stdout.read_text()} {stderr.read_text()}"
    kids = {pid: (_stat(pid), cmd) for pid, cmd in harness.children().items()}
    kids = {pid: (st[1], cmd) for pid, (st, cmd) in kids.items() if st}
    run_ports = claimed_ports(harness.state) | conf_ports(out)
    assert len(kids) == 3, kids

    p.kill()
    p.wait(10)
    t0 = time.monotonic()
    poll(lambda: not any(running(pid, start) for pid, (start, _) in kids.items()), 10, interval=0.01)
    survivors = {pid: cmd for pid, (start, cmd) in kids.items() if running(pid, start)}
    died_in = time.monotonic() - t0
    print(
        f"SIGKILL of the harness: {len(kids)} children, {len(survivors)} still running after {died_in:.2f}s "
        f"(parent-death signal {'worked' if not survivors else 'did not work'}): {survivors}"
    )

    r = harness.run("down", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr == "" and "Traceback" not in r.stdout
    assert re.match(r"Stopped \d+ process\(es\)", r.stdout), r.stdout
    left = {pid: cmd for pid, (start, cmd) in kids.items() if running(pid, start)}
    assert left == {}, f"still running after `harness down`: {left}"
    assert harness.children() == {}
    assert list((harness.state / "procs").glob("*.json")) == [], "down left the killed run's record"
    poll(lambda: all(ports.bindable(port) for port in run_ports), 5)
    unbindable = [port for port in run_ports if not ports.bindable(port)]
    assert len(run_ports) == 6 and unbindable == [], (run_ports, unbindable)
    # Children of a killed harness must not outlive it: they get the parent-death signal.
    assert survivors == {}, f"children outlived the SIGKILLed harness by {died_in:.1f}s: {survivors}"


def _finished_entries(out: Path) -> int:
    try:
        return len(results.load(out / results.FILENAME)["entries"])
    except Exception:  # not written yet: the run is starting
        return 0


def test_killed_run_keeps_the_entries_it_finished(harness: Harness, tmp_path: Path):
    out = tmp_path / "out"
    p, stdout, stderr = harness.start("run", SHORT, LONG, "--client", "nats-go", "--out", str(out))
    poll(lambda: p.poll() is not None or _finished_entries(out) >= 1, 90)
    assert p.poll() is None, f"harness exited early ({p.returncode}): {stdout.read_text()} {stderr.read_text()}"
    p.kill()
    p.wait(10)
    res = results.load(out / results.FILENAME)  # valid: every write was a rename of a whole file
    assert res["complete"] is False and res["run"]["finished_at"] is None
    assert [(e["scenario"], e["client"], e["status"]) for e in res["entries"]] == [(SHORT, "nats-go", "ok")]
    poll(lambda: harness.children() == {}, 10)  # the parent-death signal took the second pair's processes
    r = harness.run("down", timeout=60)
    assert r.returncode == 0 and "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert harness.children() == {}


# -- up / down ----------------------------------------------------------------


def test_up_then_down(harness: Harness):
    r = harness.run("up", "--topology", "nats-single", timeout=90)
    assert r.returncode == 0, r.stdout + r.stderr
    urls = dict(re.findall(r"^\s+(n1-client|n1-observer)\s+(nats://127\.0\.0\.1:\d+)\s*$", r.stdout, re.M))
    assert set(urls) == {"n1-client", "n1-observer"}, r.stdout
    assert re.search(r"toxiproxy API\s+http://127\.0\.0\.1:\d+", r.stdout), r.stdout
    up_procs = harness.children()
    assert len(up_procs) == 2, up_procs  # toxiproxy-server and n1 outlive `harness up`
    claimed = claimed_ports(harness.state)
    assert len(claimed) == 6, claimed

    line = first_line_from(urls["n1-client"])
    assert line.startswith("INFO"), line

    again = harness.run("up", "--topology", "nats-single", timeout=60)
    assert_one_line(again, 2, "already running")
    assert harness.children() == up_procs

    down = harness.run("down", timeout=60)
    assert down.returncode == 0, down.stdout + down.stderr
    assert down.stderr == ""
    assert down.stdout.startswith("Stopped 2 process(es)"), down.stdout
    assert poll(lambda: all(refuses(u) for u in urls.values()), 10), f"still accepting: {urls}"
    assert poll(lambda: harness.children() == {}, 10), f"still running after down: {harness.children()}"
    assert claimed_ports(harness.state) == set(), "down did not release the port claims"
    assert poll(lambda: all(ports.bindable(port) for port in claimed), 5), claimed


def test_broker_without_java_is_an_environment_error_in_one_line(harness: Harness, tmp_path: Path):
    """Java gone: the broker cannot be made. One line naming the cause, exit 3, nothing left."""
    harness.env["JAVA_HOME"] = str(tmp_path / "no-such-jdk")
    r = harness.run("run", "amqp.single.no-reconnect", "--client", "rhea", "--out", str(tmp_path / "out"))
    assert_one_line(r, 3, "environment error", "artemis create", "java")
    entry = results.load(tmp_path / "out")["entries"][0]
    assert entry["status"] == "error" and entry["checks"] == []
    assert harness.children() == {}


# -- property: any command line, run in-process --------------------------------

DATA = Path(__file__).parent / "data"
SCENARIOS = sorted(load_all())
COMMANDS = ["list", "run", "report", "compare", "replay", "compose", "baseline", "down", "merge"]
FLAGS = {
    "list": ["--verbose", "-v"],
    "run": [
        "--client",
        "--backend",
        "--out",
        "--seed",
        "--jobs",
        "-j",
        "--pairs-file",
        "--options",
        "--shard",
        "--durations",
        "--app",
    ],
    "report": [],
    "compare": ["--html"],
    "replay": ["--out"],
    "compose": [],  # never --write
    "baseline": [],
    "down": [],
    "merge": ["--out", "--force", "--baseline"],
}
TAKES_VALUE = {"--client", "--backend", "--out", "--seed", "--jobs", "-j", "--pairs-file", "--options", "--html"}
TAKES_VALUE |= {"--shard", "--durations", "--baseline", "--app"}
POSITIONALS = {
    "run": (0, 3),
    "report": (1, 1),
    "compare": (2, 2),
    "replay": (1, 1),
    "baseline": (1, 1),
    "merge": (1, 3),
}


def names_a_scenario(token: str) -> bool:
    return any(fnmatch(n, token) or n == token for n in SCENARIOS)


def safe_text(token: str) -> bool:
    """Text that is no scenario, never writes outside the test's folder (it runs in a temporary
    working folder: no absolute path, also not as --flag=/path, no way up), and that argv can
    carry (no NUL)."""
    return (
        token != "up"  # after a junk first token, any token may become the command
        and "\0" not in token
        and not token.startswith("/")
        and "=/" not in token
        and ".." not in token
        and not token.startswith("--w")  # compose --write, abbreviated
        and not names_a_scenario(token)
    )


def _recorded_entry() -> dict:
    with gzip.open(DATA / "recorded-suite.json.gz", "rt") as f:
        return json.load(f)["entries"][0]


@st.composite
def file_contents(draw, entry: dict, kind: str | None = None) -> str | bytes:
    """What a file handed to the command line holds: noise, JSON, a valid results file, a replay
    bundle of a scenario that does not exist."""
    kinds = ["results", "text", "bytes", "json", "results-bad", "bundle", "pairs", "toml", "results", "deep", "deep"]
    kind = kind or draw(st.sampled_from(kinds))
    if kind == "text":
        return draw(fragments(['"schema"', '"fault-harness/results"', '"entries"']))
    if kind == "bytes":
        return draw(st.binary(max_size=30))
    if kind == "deep":
        depth = draw(st.sampled_from([1000, 5000, 100_000]) | DEPTHS)
        return deep(depth, draw(st.sampled_from(["json-array", "json-object", "json-array", "toml-table"])))
    if kind == "json":
        return json.dumps(draw(JSON_VALUES))
    if kind == "toml":
        return to_toml(draw(st.dictionaries(TEXT, TOML_VALUES, max_size=3)))
    if kind in ("results", "results-bad"):
        res = results.new("local", draw(st.integers(0, 5)), ["harness", "run"])
        results.finish(res, draw(st.booleans()))
        if draw(st.booleans()):
            res["entries"] = [copy.deepcopy(entry)]
        if kind == "results-bad":
            key = draw(st.sampled_from(["schema", "schema_version", "run", "entries", "complete"]))
            res[key] = draw(JSON_VALUES)
        return json.dumps(res)
    if kind == "pairs":  # none naming a real scenario: an empty list runs nothing
        pairs = draw(st.lists(st.lists(TEXT.filter(lambda t: t not in SCENARIOS), max_size=3), max_size=3))
        return json.dumps(pairs)
    if kind == "options":
        names = ["", "ReconnectWait", "reconnect", "connection_details"]
        return to_toml(draw(st.dictionaries(st.sampled_from(names) | TEXT, TOML_VALUES, max_size=2)))
    name = draw(TEXT.filter(lambda t: t not in SCENARIOS))
    data = replay.bundle(entry, "local", {}) | {"scenario": name}
    if draw(st.booleans()):
        data[draw(st.sampled_from(sorted(data)))] = draw(JSON_VALUES)
    return json.dumps(data)


def starts_nothing(content: str | bytes) -> bool:
    """A file that, if it ends up as --pairs-file (abbreviations included), names no real pair."""
    try:
        listed = json.loads(content)
    except (ValueError, RecursionError):
        return True
    return not isinstance(listed, list) or not any(name in str(listed) for name in SCENARIOS)


@st.composite
def argvs(draw, entry: dict) -> tuple[list[str], dict[str, str | bytes]]:
    """(argv, files to create first: name -> content). File values are written as `@name`."""
    files: dict[str, str | bytes] = {}

    def rarely() -> bool:  # one time in ten (hypothesis favours the ends of an integer range)
        return draw(st.sampled_from(range(10))) == 7

    def value(content_kind: str | None = None) -> str:
        what = (
            "file"
            if content_kind
            else draw(st.sampled_from(["file", "folder", "text", "file", "folder", "missing", "number", "a run"]))
        )
        if what == "text":
            return draw(TEXT.filter(safe_text))
        if what == "number":
            return str(draw(st.sampled_from([0, -1, 1, 2, 10**6, 10**30, -(10**30)]) | st.integers()))
        if what == "missing":
            odd = draw(st.sampled_from(["", "a\nb", "x\ry", "tab\tz", "\u2028", " ", "é", "[x]"]))
            return f"@missing-{odd}{draw(st.integers(0, 9))}" + draw(st.sampled_from(["", "/results.json"]))
        name = f"f{len(files)}" + draw(st.sampled_from(["", "", "a\nb", " c", "\u0085"]))
        content_kind = "results" if what == "a run" else content_kind
        content = draw(file_contents(entry, content_kind).filter(starts_nothing))
        if what in ("folder", "a run"):
            for inner in ["other"] if rarely() else ["results.json", "replay.json"]:  # what each command looks for
                files[f"{name}/{inner}"] = content
            return f"@{name}"
        name += draw(st.sampled_from(["", ".json", ".toml"]))
        files[name] = content
        return f"@{name}"

    def flag_value(flag: str) -> str:
        if flag in ("--seed", "--jobs", "-j") and draw(st.booleans()):
            return str(draw(st.sampled_from([0, -1, 1, 2, 4, 10**6, 10**30, -(10**30)]) | st.integers()))
        if flag == "--shard" and draw(st.booleans()):
            return draw(st.sampled_from(["1/2", "2/2", "0/4", "5/4", "x", "1/0", "1/1"]))
        if flag == "--app" and draw(st.booleans()):
            return draw(st.sampled_from(["true {n1-client}", "true {n1-client", "{n1-client}", "", "true {x:y}"]))
        if flag == "--backend" and draw(st.booleans()):
            return draw(st.sampled_from(["local", "compose", "docker", ""]))
        if flag == "--client" and draw(st.booleans()):
            return draw(st.sampled_from(sorted(registry.all_drivers())))
        if flag in ("--pairs-file", "--options") and draw(st.booleans()):
            return value("pairs" if flag == "--pairs-file" else "options")
        return value()

    # Mostly well-formed (so that the commands' own checks are reached), sometimes not.
    junk_cmd = TEXT.filter(lambda t: safe_text(t) and t not in COMMANDS)
    cmd = draw(junk_cmd) if rarely() else draw(st.sampled_from(COMMANDS))
    argv = [cmd]
    lo, hi = POSITIONALS.get(cmd, (0, 0))
    wrong = rarely()
    for _ in range(draw(st.integers(max(0, lo - wrong), hi + wrong))):
        argv.append(value())
    real = FLAGS.get(cmd, [])
    for _ in range(draw(st.integers(0, 3)) if real else int(rarely())):
        if real and not rarely():
            flag = draw(st.sampled_from(real))
        else:
            flag = draw(st.sampled_from(["--junk", "-q", "-h"]) | TEXT.map("--{}".format).filter(safe_text))
        argv.append(flag)
        if flag in TAKES_VALUE or rarely():
            argv.append(flag_value(flag))
    if rarely():
        argv.insert(0, draw(st.sampled_from(["--junk", "-x"])))
    return argv, files


def _children() -> set[int]:
    me, out = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                out.add(int(entry))
    return out


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """harness.cli.main(argv) in this process: (exit code, stdout, stderr). Restores the signal
    handlers main installs."""
    out, err = io.StringIO(), io.StringIO()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as e:  # argparse: usage errors (2), --help (0)
                code = e.code if isinstance(e.code, int) else 2
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def isolated_cli(tmp_path, monkeypatch):
    """State, reports and the working folder under tmp_path; every process start and compose
    --write refused and recorded."""
    state = tmp_path / "state"
    monkeypatch.setattr(paths, "RUNTIME_STATE", state)
    monkeypatch.setattr(ports, "CLAIMS", state / "ports")
    monkeypatch.setattr(procs, "RECORDS", state / "procs")
    monkeypatch.setattr(paths, "REPORTS", tmp_path / "reports")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    started: list[object] = []

    def refuse(*args, **kwargs):
        started.append(args or kwargs)
        raise AssertionError(f"the command line tried to start or write something: {args!r}")

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)
    monkeypatch.setattr(os, "fork", refuse)
    monkeypatch.setattr(compose_file, "write", refuse)
    return tmp_path, started


def test_command_line_gives_an_exit_code_and_one_line_errors(isolated_cli, record_property):
    tmp_path, started = isolated_cli
    count = Counter(record_property, "command lines")
    entry = _recorded_entry()
    children, threads = _children(), set(threading.enumerate())

    @settings(max_examples=1500, **SETTINGS)
    @given(argvs(entry))
    def prop(example):
        count()
        argv_spec, files = example
        base = tmp_path / f"ex{count.n}"
        for name, content in files.items():
            path = base / name
            path.parent.mkdir(parents=True, exist_ok=True)
            (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
        argv = [str(base / a[1:]) if a.startswith("@") else a for a in argv_spec]
        assert not any(names_a_scenario(a) for a in argv), "a generated command could start a scenario"
        try:
            code, out, err = run_main(argv)
        finally:
            shutil.rmtree(base, ignore_errors=True)  # a report is a few MB
        kind = "ok" if code == 0 else "argparse" if "usage:" in err else "harness"
        count.saw(f"{argv[0] if argv[0] in COMMANDS else '(junk)'} {kind} {code}")
        assert isinstance(code, int) and code in (0, 2, 3), (code, err)
        assert "Traceback" not in err and "Traceback" not in out
        assert not started, started
        if code != 0 and "usage:" not in err:  # ours: exactly one line
            assert err.startswith("harness: ") and one_line(err.rstrip("\n")) and err.endswith("\n"), err

    prop()
    assert _children() <= children, "a process was left running"
    assert set(threading.enumerate()) <= threads, "a thread was left running"
    claims = tmp_path / "state" / "ports"
    assert not [p for p in claims.iterdir() if p.name.isdigit()] if claims.exists() else True
    count.done()


def test_regression_error_with_a_newline_is_one_line(isolated_cli):
    code, _, err = run_main(["report", "a\nb"])  # the path was printed as is: two lines
    assert code == 2 and err.startswith("harness: ") and one_line(err.rstrip("\n"))


# -- by hand: up --name, status, fault, down NAME (no process started) ---------


@pytest.mark.parametrize(
    ("argv", "mentions"),
    [
        (["up", "--topology", "nope"], ["unknown topology", "nope"]),
        (["up", "--name", "a/b"], ["not a simple word", "a/b"]),
        (["up", "--name", "a b"], ["not a simple word"]),
        (["up", "--name", ".."], ["not a simple word"]),
        (["status", "outage-42"], ["no topology named 'outage-42' is running"]),
        (["status", "../x"], ["not a simple word"]),
        (["down", "outage-42"], ["no topology named 'outage-42' is running"]),
        (["fault", "outage-42", "refuse", "n1-client"], ["no topology named 'outage-42' is running"]),
        (["fault", "outage-42", "heal"], ["no topology named 'outage-42' is running"]),
    ],
)
def test_by_hand_argument_errors_are_one_line_exit_2(isolated_cli, argv: list[str], mentions: list[str]):
    _, started = isolated_cli
    code, out, err = run_main(argv)
    assert code == 2, (code, out, err)
    assert err.startswith("harness: ") and one_line(err.rstrip("\n")), err
    for m in mentions:
        assert m in err, err
    assert not started


def test_status_with_nothing_running_says_so(isolated_cli):
    code, out, err = run_main(["status"])
    assert (code, err) == (0, "") and out.startswith("No topology started by `harness up` is running"), out
    code, out, _ = run_main(["status", "--json"])
    assert code == 0 and json.loads(out) == {"topologies": []}


@pytest.mark.parametrize(
    ("words", "params"),
    [
        (["latency_ms=500"], {"latency_ms": 500}),
        (["latency_ms=-1", "jitter_ms=0"], {"latency_ms": -1, "jitter_ms": 0}),
        (["drop_existing=true"], {"drop_existing": True}),
        (["drop_existing=False"], {"drop_existing": False}),
        (["latency_ms=1.5"], {"latency_ms": 1.5}),  # a number, refused by the kind's schema
        (["stream=upstream"], {"stream": "upstream"}),
        (["stream="], {"stream": ""}),
    ],
)
def test_fault_parameters_are_parsed_as_numbers_and_booleans(words: list[str], params: dict):
    from harness import standing_faults

    assert standing_faults.parse_params(words) == params


def test_a_bare_duration_is_the_kinds_one_required_ms_parameter():
    from harness import standing_faults

    assert standing_faults.parse_params(["500ms", "jitter_ms=5"], "latency") == {"latency_ms": 500, "jitter_ms": 5}


@pytest.mark.parametrize(
    ("kind", "words", "mentions"),
    [
        ("latency", ["500ms"], ["'500ms' is not name=value"]),
        ("latency", ["=5"], ["is not name=value"]),
        ("latency", [], ["needs the parameter latency_ms"]),
        ("latency", ["latency_ms=1.5"], ["latency_ms must be a whole number, not 1.5"]),
        ("latency", ["latency_ms=true"], ["latency_ms must be a whole number, not True"]),
        ("refuse", ["stream=sideways"], ["stream must be one of"]),
        ("nope", [], ["unknown fault kind 'nope'"]),
    ],
)
def test_bad_fault_parameters_are_usage_errors(kind: str, words: list[str], mentions: list[str]):
    from harness import standing_faults
    from harness.errors import UsageError
    from harness.faults import Fault

    with pytest.raises(UsageError) as e:
        Fault(kind, "n1-client", standing_faults.parse_params(words))
    for m in mentions:
        assert m in e.value.line()


def test_fault_log_says_which_faults_are_on(tmp_path: Path):
    """Reconstructed from the log alone: a fault is on from a confirmed apply until a
    confirmed revert; one-shot kinds and unconfirmed applies never are."""
    from harness import standing_faults

    log = tmp_path / standing_faults.FILENAME
    lines = [
        {"action": "apply", "id": 1, "kind": "refuse", "target": "n1-client", "params": {}, "lasting": True},
        {"action": "apply", "id": 2, "kind": "restart", "target": "n1", "params": {}, "lasting": False},
        {"action": "apply", "id": 3, "kind": "kill", "target": "n2", "params": {}, "lasting": True, "error": "x"},
        {"action": "apply", "id": 4, "kind": "partition", "target": "n1|n2,n3", "params": {}, "lasting": True},
        {"action": "apply", "id": 5, "kind": "kill", "target": "n3", "params": {}, "lasting": True},
        {"action": "revert", "id": 1, "kind": "refuse", "target": "n1-client", "params": {}},
        {"action": "revert", "id": 5, "kind": "kill", "target": "n3", "params": {}, "error": "not ready"},
    ]
    log.write_text("".join(json.dumps(x) + "\n" for x in lines))
    on = standing_faults.faults_on(log)
    assert [(f["id"], f.get("revert_failed", False)) for f in on] == [(4, False), (5, True)]
    assert [f["id"] for f in on if standing_faults.matches(f, "n2")] == [4]
    assert [f["id"] for f in standing_faults._heal_order(on)] == [4, 5]  # links before services
