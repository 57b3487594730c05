"""Any program as the client (`harness run --app CMD`): the user's own program,
started with the topology's endpoints put into its command line.

The program is not instrumented: it prints no events and takes no commands, so
the harness knows only what the wire shows (harness/judging/wire_only.py). Its
stdout and stderr go to `app.log` in the entry's folder; it is stopped with
SIGTERM, then SIGKILL, as every child of the harness is (harness/procs.py).

Placeholders in CMD: `{LINK}` is that link's client URL (`nats://127.0.0.1:21004`),
`{LINK:hostport}` its host:port; `{{` and `}}` are literal braces. LINK is a
client link of the scenario's topology (`n1-client`; see `harness list`).
"""

from __future__ import annotations

import re
import shlex
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import procs
from harness.errors import UsageError
from harness.topology import Topology

# The name the entry's client takes; an app is judged as its scenario's family.
CLIENT = "app"
FORMATS = ("url", "hostport")
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class Placeholder:
    link: str
    form: str  # one of FORMATS


def _parse_word(word: str) -> list[str | Placeholder]:
    """A word of the command as literal text and placeholders; UsageError if malformed."""
    parts: list[str | Placeholder] = []
    pos = 0
    for m in _TOKEN.finditer(word):
        parts.append(word[pos : m.start()])
        pos = m.end()
        tok = m.group(0)
        if tok in ("{{", "}}"):
            parts.append(tok[0])
            continue
        inner = m.group(1)
        if inner is None:
            raise UsageError(f"--app: unmatched {tok!r} in {word!r}", "write {{ or }} for a literal brace")
        link, _, form = inner.partition(":")
        if not _NAME.fullmatch(link) or (form and form != "hostport"):
            raise UsageError(
                f"--app: malformed placeholder {tok!r} in {word!r}", "write {LINK} or {LINK:hostport}, e.g. {n1-client}"
            )
        parts.append(Placeholder(link, "hostport" if form else "url"))
    parts.append(word[pos:])
    return [p for p in parts if p != ""]


@dataclass(frozen=True)
class AppSpec:
    """The user's command, split as a shell would split it, with its placeholders."""

    command: str
    words: tuple[tuple[str | Placeholder, ...], ...]

    @classmethod
    def parse(cls, command: str) -> AppSpec:
        try:
            argv = shlex.split(command)
        except ValueError as e:
            raise UsageError(f"--app: cannot split the command: {e}") from None
        if not argv:
            raise UsageError("--app: the command is empty")
        spec = cls(command, tuple(tuple(_parse_word(w)) for w in argv))
        program = "".join(p for p in spec.words[0] if isinstance(p, str))
        if not program or any(isinstance(p, Placeholder) for p in spec.words[0]):
            raise UsageError("--app: the program must be named first, e.g. --app './svc {n1-client}'")
        if shutil.which(program) is None and not Path(program).is_file():
            raise UsageError(f"--app: program {program!r} not found", "give its path or put it on PATH")
        return spec

    @property
    def links(self) -> list[str]:
        """Every link the command names, in order of first mention."""
        seen = [p.link for w in self.words for p in w if isinstance(p, Placeholder)]
        return list(dict.fromkeys(seen))

    def check(self, topology: Topology) -> None:
        """Every placeholder names a client link of `topology`, else one line."""
        clients = [x.name for x in topology.links if x.role == "client"]
        for link in self.links:
            if link not in clients:
                raise UsageError(
                    f"--app: topology {topology.name} has no client link {link!r}",
                    f"its client links: {', '.join(clients)}",
                )

    def argv(self, url: Callable[[str], str]) -> list[str]:
        """The command with every placeholder filled in; `url(link)` is the link's client URL."""

        def fill(p: str | Placeholder) -> str:
            if isinstance(p, str):
                return p
            u = url(p.link)
            return u.split("://", 1)[-1].rstrip("/") if p.form == "hostport" else u

        return ["".join(fill(p) for p in w) for w in self.words]


class AppProcess:
    """The running program, in the place of a driver: no events, no commands. What a
    scenario waits for is served by Run from the wire; anything else times out."""

    def __init__(self, app: AppSpec, argv: list[str], workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.app = app
        self.argv = argv
        self.log = workdir / "app.log"
        self.problems: list[str] = []
        self.stopped = False
        # Whether it was still running when the harness stopped it (else it ended on its own).
        self.ran_to_stop: bool | None = None
        self.proc = procs.spawn("app", argv, log=self.log)

    def alive(self) -> bool:
        return self.proc.alive()

    def snapshot(self) -> list[dict]:
        return []

    def send(self, cmd: dict) -> None:
        """The program takes no commands: a scenario's publish command is not for it."""

    def idle(self, timeout: float) -> None:
        """A wait the wire cannot answer: until `timeout`, or until the program exits."""
        deadline = time.monotonic() + timeout
        while self.proc.alive() and time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after `grace` s (procs.Proc.stop); nothing is left running."""
        if not self.stopped:
            self.ran_to_stop = self.proc.alive()
            self.proc.stop(grace=grace)
            self.stopped = True
        return self.proc.returncode

    def describe(self) -> dict:
        """What the entry records about the program (results schema: entry.app)."""
        return {
            "command": self.app.command,
            "argv": self.argv,
            "links": self.app.links,
            "log": self.log.name,
            "exit_code": self.proc.returncode if self.stopped or not self.proc.alive() else None,
            "exited_on_its_own": self.ran_to_stop is False,
        }
