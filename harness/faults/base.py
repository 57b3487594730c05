"""What a fault kind is made of: its parameters (each a Param, together its
schema) and its actions (a Kind: apply, revert, and a confirmation of each
against the real state). LinkKind, ToxicKind and ServiceKind hold what the kinds
of one shape share, so that a kind itself is only what makes it different."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from harness.backends import Live
from harness.errors import UsageError
from harness.faults import confirm
from harness.wire import open_connections

STREAMS = {"upstream": ("upstream",), "downstream": ("downstream",), "both": ("upstream", "downstream")}


class _Required:
    def __repr__(self) -> str:
        return "required"


REQUIRED = _Required()
_TYPE_WORDS = {int: "a whole number", bool: "true or false", str: "text"}


@dataclass(frozen=True)
class Param:
    name: str
    type: type
    default: object = REQUIRED
    choices: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def check(self, kind: str, value: object) -> None:
        if self.choices:
            if not isinstance(value, str) or value not in self.choices:  # an unhashable value is no choice either
                raise UsageError(f"fault {kind}: {self.name} must be one of {', '.join(self.choices)}, not {value!r}")
        # bool is an int to Python, never to Toxiproxy.
        elif not isinstance(value, self.type) or isinstance(value, bool) != (self.type is bool):
            raise UsageError(f"fault {kind}: {self.name} must be {_TYPE_WORDS[self.type]}, not {value!r}")


STREAM = Param("stream", str, "both", choices=tuple(STREAMS))  # every kind takes it, as it always has
DROP_EXISTING = Param("drop_existing", bool, False)  # close open connections once the toxic is on


class Kind:
    """One fault kind. A subclass names itself, declares its parameters and acts;
    confirm_* return what was measured when the action did not take, else None."""

    name: ClassVar[str]
    scope: ClassVar[str]  # "link" or "service"
    params: ClassVar[tuple[Param, ...]] = ()
    lasting: ClassVar[bool] = True  # False: over once applied, nothing to revert

    def __init__(self, target: str, params: dict, id: int) -> None:
        self.target, self.given, self.id = target, params, id

    @classmethod
    def schema(cls) -> tuple[Param, ...]:
        return (STREAM, *cls.params)

    @classmethod
    def validate(cls, params: dict) -> None:
        schema = cls.schema()
        for p in schema:
            if p.required and p.name not in params:
                raise UsageError(f"fault {cls.name} needs the parameter {p.name}")
        for p in schema:
            if p.name in params:
                p.check(cls.name, params[p.name])

    def param(self, name: str) -> object:
        default = next(p.default for p in self.schema() if p.name == name)
        return self.given.get(name, default)

    def streams(self) -> tuple[str, ...]:
        return STREAMS[self.param("stream")]

    def heals(self) -> bool:
        """Whether ending the fault undoes it (False: it is left in force)."""
        return True

    def apply(self, live: Live) -> None:
        raise NotImplementedError

    def revert(self, live: Live) -> None:
        raise NotImplementedError

    def confirm_applied(self, live: Live) -> str | None:
        raise NotImplementedError

    def confirm_reverted(self, live: Live) -> str | None:
        raise NotImplementedError


class LinkKind(Kind):
    """A fault on one or more links ("n1-client,n2-client"), done link by link."""

    scope = "link"

    def links(self, live: Live) -> list[str]:
        """The target links, those carrying open connections last: cut together,
        a client dropped from one link must not slip through another that is
        about to be cut."""
        links = self.target.split(",")
        for name in links:
            live.topology.link(name)
        busy = open_connections(live.wire_events(0))
        return sorted(links, key=lambda name: busy.get(name, 0) > 0)

    def reverted_links(self, live: Live) -> list[str]:
        return self.target.split(",")

    def apply(self, live: Live) -> None:
        for link in self.links(live):
            self.apply_link(live, link)

    def revert(self, live: Live) -> None:
        for link in self.reverted_links(live):
            self.revert_link(live, link)

    def confirm_applied(self, live: Live) -> str | None:
        return next(filter(None, (self.link_applied(live, x) for x in self.reverted_links(live))), None)

    def confirm_reverted(self, live: Live) -> str | None:
        return next(filter(None, (self.link_reverted(live, x) for x in self.reverted_links(live))), None)

    def apply_link(self, live: Live, link: str) -> None:
        raise NotImplementedError

    def revert_link(self, live: Live, link: str) -> None:
        raise NotImplementedError

    def link_applied(self, live: Live, link: str) -> str | None:
        raise NotImplementedError

    def link_reverted(self, live: Live, link: str) -> str | None:
        raise NotImplementedError


class ToxicKind(LinkKind):
    """A Toxiproxy toxic of type `toxic` on each chosen stream of each link."""

    toxic: ClassVar[str]
    params = (DROP_EXISTING,)

    def attributes(self) -> dict:
        raise NotImplementedError

    def toxic_name(self, stream: str) -> str:
        return f"{self.name}-{self.id}-{stream}"

    def apply_link(self, live: Live, link: str) -> None:
        for s in self.streams():
            live.toxiproxy.add_toxic(link, self.toxic_name(s), self.toxic, s, self.attributes())
        if self.param("drop_existing"):
            # Toxiproxy closes every open connection of a proxy when it is disabled.
            live.toxiproxy.set_enabled(link, False)
            live.toxiproxy.set_enabled(link, True)

    def revert_link(self, live: Live, link: str) -> None:
        for s in self.streams():
            live.toxiproxy.remove_toxic(link, self.toxic_name(s))

    def link_applied(self, live: Live, link: str) -> str | None:
        on = live.toxiproxy.toxics(link)
        missing = [n for n in map(self.toxic_name, self.streams()) if n not in on]
        if missing:
            return f"proxy {link} has no toxic {', '.join(missing)} (it has: {', '.join(on) or 'none'})"
        return confirm.proxy_open(live, link) if self.param("drop_existing") else None

    def link_reverted(self, live: Live, link: str) -> str | None:
        left = [n for n in map(self.toxic_name, self.streams()) if n in live.toxiproxy.toxics(link)]
        return f"proxy {link} still has toxic {', '.join(left)}" if left else None


class ServiceKind(Kind):
    """A fault on one service, done by the backend."""

    scope = "service"
