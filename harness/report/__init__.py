"""Reports of a run: an HTML page and a Markdown summary.

from harness.report import write
html_path, md_path = write(results, out_dir)   # out_dir/report.html, out_dir/summary.md
                                               # and out_dir/plotly.min.js, which the page loads
write(results, out_dir, self_contained=True)   # report.html holds plotly.js itself

The modules: model.py (what every report shows: grouping, anchors, outcome labels),
values.py (values as text), figures.py (plotly figure specs), html.py (the page),
markdown.py, terminal.py, compare.py (two runs), junit.py (JUnit XML of a run, for harness merge).
"""

from __future__ import annotations

from pathlib import Path

from harness import results as results_file
from harness.errors import UsageError
from harness.report import html, markdown

HTML_FILENAME = "report.html"
MARKDOWN_FILENAME = "summary.md"

render_html = html.render
render_markdown = markdown.render

__all__ = ["HTML_FILENAME", "MARKDOWN_FILENAME", "render_html", "render_markdown", "write"]


def write(results: dict, out_dir: Path, self_contained: bool = False) -> tuple[Path, Path]:
    """Write out_dir/report.html and out_dir/summary.md for a results document, and
    the plotly.js the page loads beside it (unless self-contained: then it is inline).

    Results that break their schema are refused with one line (UsageError)."""
    bad = results_file.validate(results)
    if bad:
        first = " ".join(bad[0].split())
        if len(first) > 300:
            first = first[:299] + "…"
        more = f" (and {len(bad) - 1} more problems)" if len(bad) > 1 else ""
        raise UsageError(f"results break their schema: {first}{more}", "pass a results.json written by this harness")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    page = html.render(results, self_contained=self_contained)
    if not self_contained:
        _write_if_changed(out_dir / html.PLOTLY_JS, html.plotly_js())
    written = []
    for name, text in ((HTML_FILENAME, page), (MARKDOWN_FILENAME, markdown.render(results))):
        path = out_dir / name
        _write(path, text)
        written.append(path)
    return written[0], written[1]


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _write_if_changed(path: Path, text: str) -> None:
    """Write `text` to `path` unless it holds exactly that already (one copy per folder,
    rewritten only when the installed plotly changed)."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    _write(path, text)
