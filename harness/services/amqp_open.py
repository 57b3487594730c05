"""What an AMQP 1.0 server says in its Open frame: the frame read off a fresh
connection and its fields decoded, so that the harness sees the same
failover-server-list a client is given (an Artemis primary names its backup there).

Only the type system's decoding is here, for the types an Open carries; nothing
is ever encoded but the fixed bytes the readiness probe already sends.
"""

from __future__ import annotations

import struct
from typing import Any

# Fixed-width constructors: (size in bytes, struct format or None for raw bytes).
_FIXED: dict[int, tuple[int, str | None]] = {
    0x50: (1, ">B"),
    0x51: (1, ">b"),
    0x52: (1, ">B"),
    0x53: (1, ">B"),
    0x54: (1, ">b"),
    0x55: (1, ">b"),
    0x56: (1, ">?"),
    0x60: (2, ">H"),
    0x61: (2, ">h"),
    0x70: (4, ">I"),
    0x71: (4, ">i"),
    0x72: (4, ">f"),
    0x73: (4, ">I"),
    0x74: (4, None),
    0x80: (8, ">Q"),
    0x81: (8, ">q"),
    0x82: (8, ">d"),
    0x83: (8, ">q"),
    0x84: (8, None),
    0x94: (16, None),
    0x98: (16, None),
}
_EMPTY = {0x40: None, 0x41: True, 0x42: False, 0x43: 0, 0x44: 0, 0x45: []}
OPEN = 0x10  # the open performative's descriptor code
# The Open's fields in order (AMQP 1.0, 2.7.1).
OPEN_FIELDS = (
    "container-id",
    "hostname",
    "max-frame-size",
    "channel-max",
    "idle-time-out",
    "outgoing-locales",
    "incoming-locales",
    "offered-capabilities",
    "desired-capabilities",
    "properties",
)


class Described(tuple):
    """A described value: (descriptor, value)."""


def decode(data: bytes, at: int = 0) -> tuple[Any, int]:
    """One value at `at`: (the value, where the next begins). Symbols and strings
    are both str; a map is a dict; a described value is Described."""
    return _body(data[at], data, at + 1)


def _body(code: int, data: bytes, at: int) -> tuple[Any, int]:
    """The value of constructor `code` whose bytes begin at `at`."""
    if code == 0x00:
        descriptor, at = decode(data, at)
        value, at = decode(data, at)
        return Described((descriptor, value)), at
    if code in _EMPTY:
        return _EMPTY[code], at
    if code in _FIXED:
        size, fmt = _FIXED[code]
        raw = data[at : at + size]
        if len(raw) < size:
            raise ValueError("value cut short")
        return (struct.unpack(fmt, raw)[0] if fmt else raw), at + size
    if code in (0xA0, 0xA1, 0xA3, 0xB0, 0xB1, 0xB3):
        wide = code >= 0xB0
        (size,) = struct.unpack(">I" if wide else ">B", data[at : at + (4 if wide else 1)])
        at += 4 if wide else 1
        raw = data[at : at + size]
        return (raw if code in (0xA0, 0xB0) else raw.decode("utf-8", errors="replace")), at + size
    if code in (0xC0, 0xC1, 0xD0, 0xD1):
        wide = code >= 0xD0
        fmt, step = (">II", 8) if wide else (">BB", 2)
        _, count = struct.unpack(fmt, data[at : at + step])
        at += step
        items = []
        for _ in range(count):
            item, at = decode(data, at)
            items.append(item)
        if code in (0xC1, 0xD1):
            return dict(zip(items[0::2], items[1::2], strict=True)), at
        return items, at
    if code in (0xE0, 0xF0):
        wide = code == 0xF0
        fmt, step = (">II", 8) if wide else (">BB", 2)
        _, count = struct.unpack(fmt, data[at : at + step])
        at += step
        element = data[at]
        at += 1
        if element == 0x00:
            raise ValueError("arrays of described values are not decoded here")
        out = []
        for _ in range(count):  # every element under the one constructor
            item, at = _body(element, data, at)
            out.append(item)
        return out, at
    raise ValueError(f"AMQP type 0x{code:02x} is not decoded here")


def open_fields(body: bytes) -> dict[str, Any]:
    """The fields of an Open frame body (its performative), by name; absent ones left out."""
    value, _ = decode(body)
    if not isinstance(value, Described) or value[0] not in (OPEN, "amqp:open:list"):
        raise ValueError("not an open performative")
    return {name: v for name, v in zip(OPEN_FIELDS, value[1], strict=False) if v is not None}


def failover_servers(fields: dict[str, Any]) -> list[str]:
    """host:port of each entry of the Open's failover-server-list property, in order."""
    listed = (fields.get("properties") or {}).get("failover-server-list") or []
    out = []
    for entry in listed:
        if isinstance(entry, dict):
            host = entry.get("network-host") or entry.get("hostname")
            out.append(f"{host}:{entry.get('port')}")
    return out
