"""Reports of a run: one self-contained HTML page and a Markdown summary.

from harness.report import write
html_path, md_path = write(results, out_dir)   # out_dir/report.html, out_dir/summary.md
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


def write(results: dict, out_dir: Path) -> tuple[Path, Path]:
    """Write out_dir/report.html and out_dir/summary.md for a results document.

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
    written = []
    for name, text in ((HTML_FILENAME, html.render(results)), (MARKDOWN_FILENAME, markdown.render(results))):
        path = out_dir / name
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written[0], written[1]
