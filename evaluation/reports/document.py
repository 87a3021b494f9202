"""Reports as lists of blocks, rendered to Markdown and HTML, and the figures they show.

A block is a tuple: ("h1".."h4", text), ("p", text), ("ul", [items]), ("table", headers, rows),
("img", src, caption) or ("gallery", [(src, caption), ...]) (a row of thumbnails). Every file is
written to a temporary name and renamed, so a reader never sees half a report.
"""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sim.atomic import atomic_path, write_bytes_atomic  # noqa: E402

METRIC_LABELS = {"nc": "NC", "dac": "DAC", "ddc": "DDC", "tlc": "TLC", "ep": "EP", "ttc": "TTC", "lk": "LK",
                 "hc": "HC", "ec": "EC"}


def save_fig(fig, path: Path) -> None:
    """Save a matplotlib figure as a PNG atomically and close it."""
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)


def fmt(value, digits: int = 3) -> str:
    """A table cell: "-" for None, yes/no, integers as they are, floats with `digits` decimals."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown(blocks: list[tuple]) -> str:
    out = []
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3", "h4"):
            out.append("#" * int(kind[1]) + " " + b[1])
        elif kind == "p":
            out.append(b[1])
        elif kind == "ul":
            out.append("\n".join(f"- {item}" for item in b[1]))
        elif kind == "table":
            headers, rows = b[1], b[2]
            lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
            lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
            out.append("\n".join(lines))
        elif kind == "img":
            out.append(f"![{b[2]}]({b[1]})")
        out.append("")
    return "\n".join(out)


_CSS = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:0.5em 0 1.5em}th,td{border:1px solid #ccc;padding:4px 8px;"
        "text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
        "img{max-width:100%;border:1px solid #ddd;margin:0.3em 0 1em}li{margin:0.2em 0}")


def to_html(blocks: list[tuple]) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'><title>splatsim report</title>",
           f"<style>{_CSS}</style></head><body>"]
    for b in blocks:
        kind = b[0]
        if kind in ("h1", "h2", "h3", "h4"):
            out.append(f"<{kind}>{e(b[1])}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{e(b[1])}</p>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in b[1]) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{e(str(h))}</th>" for h in b[1])
            body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>" for row in b[2])
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "img":
            out.append(f"<figure><img src='{e(b[1])}' alt='{e(b[2])}'><figcaption>{e(b[2])}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out)


def render_blocks(blocks: list[tuple], title: str) -> tuple[str, str]:
    """(markdown, html) of blocks with galleries ("gallery", [(src, caption), ...])."""
    plain, galleries = [], {}
    for b in blocks:
        if b[0] == "gallery":
            tag = f"@@GALLERY{len(galleries)}@@"
            galleries[tag] = b[1]
            plain.append(("p", tag))
        else:
            plain.append(b)
    md = markdown(plain)
    doc = to_html(plain).replace("<title>splatsim report</title>", f"<title>{html.escape(title)}</title>")
    for tag, items in galleries.items():
        md = md.replace(tag, " ".join(f"![{c}]({s})" for s, c in items))
        cells = "".join(f"<figure style='display:inline-block;margin:4px;vertical-align:top'>"
                        f"<img src='{html.escape(s)}' alt='{html.escape(c)}' style='max-width:240px'>"
                        f"<figcaption style='font-size:11px;max-width:240px'>{html.escape(c)}</figcaption></figure>"
                        for s, c in items)
        doc = doc.replace(f"<p>{tag}</p>", f"<div>{cells}</div>")
    return md, doc


def write_blocks(out_dir: Path, stem: str, blocks: list[tuple], title: str) -> Path:
    """Write blocks as out_dir/stem.md and stem.html (galleries included); returns the .md path."""
    out_dir = Path(out_dir)
    md, doc = render_blocks(blocks, title)
    write_bytes_atomic(out_dir / f"{stem}.html", doc.encode())
    path = out_dir / f"{stem}.md"
    write_bytes_atomic(path, md.encode())
    return path
