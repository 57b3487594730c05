"""Port claims: free, outside the ephemeral range, never handed out twice."""

from __future__ import annotations

import json
import multiprocessing
import socket

import pytest

from harness import ports
from harness.errors import EnvironmentFault


def test_claimed_ports_are_free_distinct_and_below_the_ephemeral_range():
    got = ports.claim(20, "test")
    try:
        lo, _ = ports.ephemeral_range()
        assert len(set(got)) == 20
        assert all(p < lo for p in got)
        assert all(ports.bindable(p) for p in got)
    finally:
        ports.release(got)
    assert not any((ports.CLAIMS / str(p)).exists() for p in got)


def test_a_claimed_port_is_not_claimed_again_even_while_nothing_listens():
    first = ports.claim(5, "a")
    try:
        second = ports.claim(200, "b")
        try:
            assert not set(first) & set(second)
        finally:
            ports.release(second)
    finally:
        ports.release(first)


def test_a_bound_port_is_skipped(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        monkeypatch.setattr(ports, "candidate_range", lambda: range(busy, busy + 50))
        got = ports.claim(3, "t")
        ports.release(got)
        assert busy not in got


def test_claims_of_dead_processes_lapse(monkeypatch):
    p = multiprocessing.get_context("spawn").Process(target=int)
    p.start()
    p.join()
    (free,) = ports.claim(1, "t")
    start = ports.process_start_time(p.pid)
    # A claim left by a process that is gone (the pid is dead, or reused by another).
    (ports.CLAIMS / str(free)).write_text(json.dumps({"pid": p.pid, "start": start or "0", "label": "dead"}))
    monkeypatch.setattr(ports, "candidate_range", lambda: range(free, free + 1))
    try:
        assert ports.claim(1, "again") == [free]
    finally:
        ports.release([free])


def test_a_live_claim_is_respected(monkeypatch):
    (held,) = ports.claim(1, "t")
    monkeypatch.setattr(ports, "candidate_range", lambda: range(held, held + 1))
    try:
        with pytest.raises(EnvironmentFault, match="could not find 1 free loopback ports"):
            ports.claim(1, "again")
    finally:
        ports.release([held])


def _claim_many(q, done) -> None:
    q.put(ports.claim(30, "parallel"))
    # A claim lapses with its owner: stay alive until every process has claimed.
    done.wait(30)


def test_parallel_processes_never_share_a_port():
    ctx = multiprocessing.get_context("spawn")
    q, done = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_claim_many, args=(q, done)) for _ in range(4)]
    for p in procs:
        p.start()
    claimed = [q.get(timeout=30) for _ in procs]
    done.set()
    for p in procs:
        p.join(10)
    flat = [port for c in claimed for port in c]
    assert len(flat) == len(set(flat)) == 120
