"""The pytest plugin's fixtures, used as a user would: a test file of their own, in a
folder of their own, run by pytest (pytester, in a subprocess: the user's scenario must
not join this process's registry)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

# A user's own scenario in their own test file: a copy of nats.single.no-reconnect,
# shortened, judged by its own judge, run with the run_scenario fixture.
USER_TEST = '''
from harness.judging import Judge
from harness.scenario import Run, scenario


@scenario("mine.no-reconnect", family="nats", topology="nats-single", checks=["AllowReconnect", "ClosedCB"])
def mine(run: Run) -> None:
    """My copy: AllowReconnect off, the link refused; the client must close."""
    if not run.connect("client", ["n1-client"], options={"AllowReconnect": False}, timeout=10):
        return
    cut = run.fault("refuse", "n1-client")
    run.wait("client", "closed", 10, after_ns=cut.start_ns)
    run.sleep(0.5)


@mine.judge
def judge_mine(j: Judge) -> None:
    down = j.outage().start_ns
    closed = j.tl.first(actor="client", kind="closed", after=down)
    j.verdict("ClosedCB", closed is not None, closed is not None, "closed callback after the loss")
    j.not_measured("AllowReconnect", "not looked at here")


def test_my_scenario(run_scenario):
    entry = run_scenario(mine, "nats-go", options={"ReconnectWait": 100})
    assert entry["status"] == "ok", entry["error"]
    verdicts = {c["id"]: c["verdict"] for c in entry["checks"]}
    assert verdicts == {"ClosedCB": "conforms", "AllowReconnect": "not-measured"}
    assert entry["outcome"]["result"] == "not-measured"


def test_a_topology_of_my_own(harness_topology):
    live = harness_topology("nats-single")
    assert live.url("n1-client").startswith("nats://")
    assert live.health() == []
'''


@pytest.mark.scenario
def test_a_users_own_scenario_and_topology_run_with_the_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_mine=USER_TEST)
    out = pytester.path / "out"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--harness-out={out}", "-q")
    result.assert_outcomes(passed=2)
    # The entry joined the session's results.json, as the built-in scenarios' do.
    assert (out / "results.json").is_file()
    result.stdout.fnmatch_lines(["*mine.no-reconnect*", "Results: *results.json"])


BAD_INPUT = """
def test_unknown(run_scenario):
    run_scenario("no.such.scenario", "nats-go")


def test_wrong_family(run_scenario):
    run_scenario("nats.single.no-reconnect", "rhea")


def test_bad_option(run_scenario):
    run_scenario("nats.single.no-reconnect", "nats-go", options={"ReconnectWait": "soon"})
"""


def test_bad_input_to_run_scenario_fails_the_test_in_one_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad=BAD_INPUT)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--harness-out={pytester.path / 'out'}", "-q")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*harness error: unknown scenario 'no.such.scenario': run `harness list` to see the scenarios*",
            "*harness error: scenario nats.single.no-reconnect is for nats clients, not rhea (amqp)*",
            '*harness error: options: ReconnectWait = "soon", but nats-go takes*',
        ],
        consecutive=False,
    )
    assert "Traceback" not in result.stdout.str()
    assert "During handling" not in result.stdout.str()


def test_an_unknown_topology_fails_the_test_in_one_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_topo="def test_it(harness_topology):\n    harness_topology('no-such')\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--harness-out={pytester.path / 'out'}", "-q")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*harness error: *no-such*"])
    assert "During handling" not in result.stdout.str()


def test_a_not_slow_selection_says_which_slow_scenarios_it_left_out(pytester: pytest.Pytester) -> None:
    """`make test` leaves out the scenarios that wait out a library's defaults for minutes
    (`slow=True`, marked slow); the summary names them, with pytest-xdist workers too, so
    their known deviations are not read as holding."""
    from harness import paths

    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", str(paths.SCENARIOS / "nats_single_server.py"), "-n", "2", "-m", "not slow",
        "-k", "no-reconnect or giveup-default", "--harness-client", "nats-go",
        f"--harness-out={pytester.path / 'out'}",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["Left out as slow (-m 'not slow'): 1 run of nats.single.giveup-default; *"])
