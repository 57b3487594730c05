"""How the harness itself fails or refuses, each shown to the user as one line.

A deviation of a client library from its documentation is never one of these:
that is a finding, recorded as a check verdict.
"""

from __future__ import annotations

import signal


class HarnessError(Exception):
    """Something the user can act on: one line saying what is wrong and what to do."""

    exit_code = 1

    def __init__(self, what: str, todo: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.todo = todo

    def line(self) -> str:
        return f"{self.what}: {self.todo}" if self.todo else self.what


class UsageError(HarnessError):
    """Bad input: unknown scenario or client, malformed options, bad arguments."""

    exit_code = 2


class EnvironmentFault(HarnessError):
    """The harness's environment failed: a missing binary, a port in use, a server
    that did not come up, a driver that crashed. Never a verdict about a client."""

    exit_code = 3


class Unavailable(HarnessError):
    """The backend cannot run something the topology needs (a server that comes
    only as a container image, say). A scenario on that topology is skipped with
    this reason and nothing is judged; `harness up` refuses it in one line."""

    exit_code = 2  # the wrong backend for this topology: bad input, not a broken machine


class Stopped(KeyboardInterrupt):
    """A signal other than Ctrl-C's (SIGTERM) stops the harness the way Ctrl-C does:
    everything started is stopped and the results so far are written. The exit code
    (128 + the signal's number) and the recorded reason name the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def reason(self) -> str:
        return f"stopped by {signal.Signals(self.signum).name}"


CTRL_C = "interrupted by the user"


def stop_reason(e: KeyboardInterrupt) -> str:
    """What an entry or the terminal says about an interruption."""
    return e.reason if isinstance(e, Stopped) else CTRL_C


def stop_exit_code(e: KeyboardInterrupt) -> int:
    """128 + the signal's number, as a shell reports a process killed by it; 130 for Ctrl-C."""
    return 128 + (e.signum if isinstance(e, Stopped) else signal.SIGINT)


def interruption(reason: str | None) -> KeyboardInterrupt:
    """The interruption to raise again for an entry recorded as stopped with `reason`
    (the inverse of stop_reason), so the exit code still names the signal."""
    for sig in signal.Signals:
        if reason == Stopped(sig).reason:
            return Stopped(sig)
    return KeyboardInterrupt()
