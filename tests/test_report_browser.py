"""The HTML report of the recorded suite opened in a real headless Chromium: the
page renders, every chart plotly was asked to draw is drawn, and a screenshot of
it is a real picture. Chromium comes from `make setup-test` (Debian's package)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import struct
import subprocess
import time
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pytest

from harness import report
from harness.report import model

TIMEOUT_S = 180
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=15000",
]


def chromium() -> str:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("Chromium is not installed (/usr/bin/chromium): `make setup-test` installs it (Debian's chromium)")


def _ours(sid: int, marker: str) -> list[int]:
    """Live processes of one Chromium run: its session (browser, zygotes, renderers),
    and anything naming its private folder (the crash handler detaches into a session
    of its own, but keeps its database under that run's XDG_CONFIG_HOME)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (d / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if fields[0] != "Z" and (int(fields[3]) == sid or marker in cmdline):
            found.append(int(d.name))
    return found


def run_chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    """Run Chromium in its own session with a fresh profile, and leave nothing behind."""
    private = tmp / f"chromium-{time.monotonic_ns()}"
    env = {
        **os.environ,
        "HOME": str(private / "home"),
        "XDG_CONFIG_HOME": str(private / "config"),
        "XDG_CACHE_HOME": str(private / "cache"),
    }
    cmd = [chromium(), *FLAGS, f"--user-data-dir={private / 'profile'}", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env=env)
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        out, err = b"", b""
        pytest.fail(f"Chromium did not finish within {TIMEOUT_S}s: {' '.join(cmd)}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while (left := _ours(proc.pid, str(private))) and time.monotonic() < deadline:
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)
        assert not left, f"Chromium processes left behind: {left}"
    return subprocess.CompletedProcess(cmd, proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


@pytest.fixture(scope="module")
def page(recorded_results, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("report")
    html_path, _ = report.write(recorded_results, out)
    return html_path, html_path.read_text()


class Dom(HTMLParser):
    """Plot divs in the DOM Chromium dumped: which are drawn (hold plotly's
    svg.main-svg) and which entry section (<details id>) holds each."""

    VOID: ClassVar[set[str]] = {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict]] = []
        self.plots: dict[int, dict] = {}
        self.body: dict = {}
        self.h1 = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if tag == "body":
            self.body = a
        if tag == "h1":
            self.h1 = True
        if tag == "div" and "js-plotly-plot" in classes:
            section = next((x.get("id") for t, x in reversed(self.stack) if t == "details"), None)
            a["_plot"] = len(self.plots)
            self.plots[a["_plot"]] = {"id": a.get("id"), "section": section, "drawn": False}
        if tag == "svg" and "main-svg" in classes:
            owner = next((x["_plot"] for t, x in reversed(self.stack) if "_plot" in x), None)
            if owner is not None:
                self.plots[owner]["drawn"] = True
        if tag not in self.VOID:
            self.stack.append((tag, a))

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return


def test_report_renders_in_chromium_with_every_chart_drawn(page, recorded_results, tmp_path):
    html_path, source = page
    emitted = source.count('data-spec="plot-')
    started = time.monotonic()
    res = run_chromium(["--dump-dom", html_path.as_uri()], tmp_path)
    took = time.monotonic() - started
    assert res.returncode == 0, res.stderr[-2000:]
    dom = Dom()
    dom.feed(res.stdout)
    drawn = [p for p in dom.plots.values() if p["drawn"]]
    print(f"\nChromium: {len(drawn)}/{emitted} charts drawn, DOM {len(res.stdout) / 1e6:.1f} MB, {took:.1f} s")
    assert dom.h1 and dom.body.get("data-plots-drawn") == str(emitted), "the page's script did not finish"
    assert emitted > 0 and len(drawn) == emitted == len(dom.plots)
    sections = {p["section"] for p in drawn}
    for e in recorded_results["entries"]:
        if e["events"]:
            assert model.entry_anchor(e) in sections, f"no chart drawn for {e['scenario']} / {e['client']}"
    errors = [line for line in res.stderr.splitlines() if "CONSOLE" in line and "Uncaught" in line]
    assert not errors, errors[:3]


def png_summary(data: bytes, rows: int) -> tuple[int, int, int]:
    """(width, height, distinct colours in the first `rows` rows) of an 8-bit PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = bpp = 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompressobj().decompress(idat, (width * bpp + 1) * rows)
    stride = width * bpp
    prev = bytearray(stride)
    colours: set[bytes] = set()
    for y in range(min(rows, height)):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + ((a + b) >> 1)) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        colours.update(bytes(line[i : i + bpp]) for i in range(0, stride, bpp))
        prev = line
    return width, height, len(colours)


def test_screenshot_is_a_real_picture(page, tmp_path):
    html_path, _ = page
    shot = tmp_path / "report.png"
    res = run_chromium([f"--screenshot={shot}", "--window-size=1400,4000", html_path.as_uri()], tmp_path)
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    data = shot.read_bytes()
    width, height, colours = png_summary(data, rows=160)
    print(f"\nscreenshot {shot}: {width}x{height}, {len(data) / 1e3:.0f} kB, {colours} colours in the header")
    assert (width, height) == (1400, 4000)
    assert len(data) > 50_000, "a near-empty screenshot"
    assert colours > 20, "the header of the page is (almost) one colour"


def test_a_missing_chromium_fails_and_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(pytest.fail.Exception, match="make setup-test"):
        chromium()
