# Replay summaries: summary.json, files.csv, rejections.csv and report.html from done records.
#
# Strategy: one pass over the per-file records (in the order given, which the engines make the
# sorted input order), folding totals and the four counter tables into memory (their size is
# bounded by the number of rules, codes, payers and months, not by claims) while the per-file
# and per-claim rows stream straight into their CSV files. Every output goes through
# AtomicOutput, so a reader sees the old summary or the new one, never half of one. The outputs
# hold no wall-clock values, so the same records give byte-identical files.
#
# The HTML report is for a billing manager: plain HTML with CSS and inline SVG bar charts, no
# script and no external asset, so it opens from a file share or an e-mail attachment. Every
# value from the data goes through html.escape.
from __future__ import annotations

import csv
import heapq
import html
import io
import json
import os
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from .. import store
from ..io import AtomicOutput

__all__ = ["ROW_FIELDS", "REJECTION_FIELDS", "FILE_CSV_FIELDS", "write_summary", "render_html", "TOP_FILES"]

# The per-file result row of a replay (summary.parquet holds all of them, files.csv all but seconds).
ROW_FIELDS = (
    "file", "bytes", "stored_bytes", "transactions", "transactions_passed_through", "claims_in",
    "accepted", "rejected", "unevaluated", "warnings", "charges_in", "charges_rejected", "error",
    "ack", "seconds",
)
FILE_CSV_FIELDS = tuple(f for f in ROW_FIELDS if f != "seconds")
# One row per rejected claim, after the input's `file`.
REJECTION_FIELDS = ("claim_id", "service_date", "hcpcs", "rules", "charge", "transaction", "segment")
TOP_FILES = 20
_DIMENSIONS = ("by_rule", "by_therapy", "by_payer", "by_month")
_COUNT_TOTALS = ("bytes", "stored_bytes", "transactions", "transactions_passed_through", "claims_in",
                 "accepted", "rejected", "unevaluated", "warnings")


def write_summary(out_dir: str, records: Iterable[Mapping[str, Any]], *,
                  config: Mapping[str, Any] | None = None, top: int = TOP_FILES) -> dict[str, Any]:
    """Fold replay records into OUT/summary.json, files.csv, rejections.csv and report.html.

    Returns the summary (what summary.json holds)."""
    if not store.is_url(out_dir):
        os.makedirs(out_dir, exist_ok=True)
    totals: dict[str, Any] = {k: 0 for k in _COUNT_TOTALS}
    totals.update(files=0, files_unreadable=0, acks_written=0)
    charges_in = charges_rejected = Decimal(0)
    tables: dict[str, dict[str, list]] = {d: {} for d in _DIMENSIONS}
    errors: list[dict[str, str]] = []
    best: list[tuple[int, str, dict[str, Any]]] = []  # min-heap of (rejected, -file) for the top files

    files_out = AtomicOutput(store.join(out_dir, "files.csv"))
    rej_out = AtomicOutput(store.join(out_dir, "rejections.csv"))
    try:
        files_csv = _csv(files_out, FILE_CSV_FIELDS)
        rej_csv = _csv(rej_out, ("file",) + REJECTION_FIELDS)
        for rec in records:
            row = rec["row"]
            totals["files"] += 1
            for k in _COUNT_TOTALS:
                totals[k] += int(row.get(k) or 0)
            charges_in += Decimal(row.get("charges_in") or 0)
            charges_rejected += Decimal(row.get("charges_rejected") or 0)
            if row.get("ack"):
                totals["acks_written"] += 1
            if row.get("error"):
                totals["files_unreadable"] += 1
                errors.append({"file": row["file"], "error": row["error"]})
            files_csv.writerow([row.get(f, "") for f in FILE_CSV_FIELDS])
            for r in rec.get("rejections", ()):
                rej_csv.writerow([row["file"], *(r.get(f, "") for f in REJECTION_FIELDS)])
            for dim in _DIMENSIONS:
                _merge(tables[dim], rec.get(dim) or {})
            if int(row.get("rejected") or 0) > 0:
                _keep_top(best, top, row)
        totals["charges_in"] = str(charges_in)
        totals["charges_rejected"] = str(charges_rejected)
        summary: dict[str, Any] = {
            "config": dict(config or {}),
            "totals": totals,
            "by_rule": _table(tables["by_rule"], order="rejected"),
            "by_therapy": _table(tables["by_therapy"], order="rejected"),
            "by_payer": _table(tables["by_payer"], order="rejected"),
            "by_month": _table(tables["by_month"], order="key"),
            "top_files": [_top_row(r) for _, _, r in sorted(best, key=lambda t: (-t[0], t[2]["file"]))],
            "errors": errors,
        }
        _finish_csv(files_out, files_csv)
        _finish_csv(rej_out, rej_csv)
    except BaseException:
        files_out.discard()
        rej_out.discard()
        raise
    with AtomicOutput(store.join(out_dir, "summary.json")) as out:
        out.write((json.dumps(summary, indent=2, sort_keys=False) + "\n").encode())
    with AtomicOutput(store.join(out_dir, "report.html")) as out:
        out.write(render_html(summary).encode("utf-8"))
    return summary


# -- folding -------------------------------------------------------------------------------
class _CsvSink:
    """csv.writer into an AtomicOutput, through a small text buffer flushed as bytes."""

    def __init__(self, out: AtomicOutput) -> None:
        self.out = out
        self.buf = io.StringIO()
        self.writer = csv.writer(self.buf, lineterminator="\n")

    def writerow(self, row: Iterable[Any]) -> None:
        self.writer.writerow(row)
        if self.buf.tell() > 1 << 16:
            self.flush()

    def flush(self) -> None:
        self.out.write(self.buf.getvalue().encode("utf-8"))
        self.buf.seek(0)
        self.buf.truncate()


def _csv(out: AtomicOutput, header: tuple[str, ...]) -> _CsvSink:
    sink = _CsvSink(out)
    sink.writerow(header)
    return sink


def _finish_csv(out: AtomicOutput, sink: _CsvSink) -> None:
    sink.flush()
    out.commit()


def _merge(table: dict[str, list], counters: Mapping[str, Mapping[str, Any]]) -> None:
    for key, c in counters.items():
        b = table.get(key)
        if b is None:
            b = table[key] = [0, Decimal(0)]
        b[0] += int(c.get("rejected", 0))
        b[1] += Decimal(c.get("charges_rejected", "0"))


def _table(table: dict[str, list], *, order: str) -> list[dict[str, Any]]:
    """Rows {key, rejected, charges_rejected}: most rejections first, or by key ('(none)' last)."""
    items = sorted(table.items(), key=(lambda kv: (-kv[1][0], kv[0])) if order == "rejected"
                   else (lambda kv: (kv[0].startswith("("), kv[0])))
    return [{"key": key, "rejected": b[0], "charges_rejected": str(b[1])} for key, b in items]


def _keep_top(heap: list[tuple[int, str, dict[str, Any]]], n: int, row: Mapping[str, Any]) -> None:
    # Heap order: fewest rejections first, then the later file name first (so ties keep the earlier name).
    item = (int(row["rejected"]), _Reverse(row["file"]), dict(row))
    if len(heap) < n:
        heapq.heappush(heap, item)  # type: ignore[arg-type]
    elif item > heap[0]:  # type: ignore[operator]
        heapq.heapreplace(heap, item)  # type: ignore[arg-type]


class _Reverse:
    """Orders strings backwards (for the top-files heap)."""

    __slots__ = ("s",)

    def __init__(self, s: str) -> None:
        self.s = s

    def __lt__(self, other: "_Reverse") -> bool:
        return self.s > other.s

    def __gt__(self, other: "_Reverse") -> bool:
        return self.s < other.s

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reverse) and self.s == other.s


def _top_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: row.get(k) for k in ("file", "claims_in", "rejected", "charges_rejected", "ack")}


# -- HTML ----------------------------------------------------------------------------------
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1d2733;margin:0;background:#f5f7fa}
main{max-width:1040px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}
.sub{color:#5b6775;margin:0 0 18px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #dde3ea;border-radius:8px;padding:12px 16px;min-width:140px}
.card b{display:block;font-size:22px}.card span{color:#5b6775;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card.bad b{color:#b42318}
section{background:#fff;border:1px solid #dde3ea;border-radius:8px;padding:4px 18px 16px;margin-top:18px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #edf0f4;vertical-align:top}
th{color:#5b6775;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.f{word-break:break-all}
svg text{font:12px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:#1d2733}
.empty{color:#5b6775;font-style:italic}
footer{color:#5b6775;font-size:12px;margin-top:24px}
"""
_BAR = "#c2410c"


def render_html(summary: Mapping[str, Any]) -> str:
    """The report page for a summary (as returned by write_summary)."""
    t = summary["totals"]
    cfg = summary.get("config") or {}
    e = _e
    claims = int(t["claims_in"])
    rejected = int(t["rejected"])
    share = f"{100 * rejected / claims:.1f}% of claims" if claims else "no claims"
    setting = [f"policy: {cfg.get('policy') or 'built-in'}"]
    if cfg.get("site"):
        setting.append(f"site: {cfg['site']}")
    setting.append(f"evaluated as of {cfg['as_of']}" if cfg.get("as_of") else "each claim on its dates of service")
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">",
        "<title>edi-cgt replay report</title><style>", _CSS, "</style></head><body><main>",
        "<h1>Cell and gene therapy claims: replay report</h1>",
        f"<p class=\"sub\">{e('; '.join(setting))}</p>",
        "<div class=\"cards\">",
        _card("Files", f"{t['files']:,}", f"{t['files_unreadable']:,} unreadable" if t["files_unreadable"] else "all readable",
              bad=bool(t["files_unreadable"])),
        _card("Claims", f"{claims:,}", f"{_mb(t['bytes'])} of X12"),
        _card("Rejected", f"{rejected:,}", share, bad=rejected > 0),
        _card("Charges rejected", _money(t["charges_rejected"]), f"of {_money(t['charges_in'])} billed", bad=rejected > 0),
        _card("Accepted", f"{int(t['accepted']):,}", f"{int(t['warnings']):,} warnings"),
        _card("Not evaluated", f"{int(t['unevaluated']):,}",
              f"{int(t['transactions_passed_through']):,} transactions passed through"),
        "</div>",
        "<section><h2>Rejected claims by rule</h2>",
        _hbars([(r["key"], int(r["rejected"]), _money(r["charges_rejected"])) for r in summary["by_rule"] if int(r["rejected"])]),
        "</section>",
        "<section><h2>Rejected claims by month of service</h2>",
        _month_chart(summary["by_month"]),
        "</section>",
        "<section><h2>Rejected claims by therapy code</h2>",
        _count_table(summary["by_therapy"], "HCPCS/CPT"),
        "</section>",
        "<section><h2>Rejected claims by payer</h2>",
        _count_table(summary["by_payer"], "Payer id"),
        "</section>",
        "<section><h2>Files with the most rejections</h2>",
        _top_files(summary["top_files"]),
        "</section>",
    ]
    if summary["errors"]:
        parts += ["<section><h2>Files that could not be read</h2>", _errors(summary["errors"]), "</section>"]
    parts += [
        "<footer>Written by edi-cgt ", e(str(cfg.get("edi_cgt", ""))),
        " replay. Per-claim details: rejections.csv; per-file details: files.csv; 277CA files: acks/. ",
        "No member names, ids or birth dates appear in this report.</footer>",
        "</main></body></html>\n",
    ]
    return "".join(parts)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _card(label: str, value: str, note: str, *, bad: bool = False) -> str:
    return (f"<div class=\"card{' bad' if bad else ''}\"><span>{_e(label)}</span><b>{_e(value)}</b>"
            f"<small>{_e(note)}</small></div>")


def _money(value: object) -> str:
    amount = Decimal(str(value or 0))
    return f"${amount:,.2f}"


def _mb(n: object) -> str:
    value = int(n or 0)
    if value >= 1 << 30:
        return f"{value / (1 << 30):.1f} GiB"
    if value >= 1 << 20:
        return f"{value / (1 << 20):.1f} MiB"
    return f"{value / 1024:.1f} KiB"


def _hbars(items: list[tuple[str, int, str]], limit: int = 30) -> str:
    """Horizontal bars, one per (label, value, note), largest first."""
    if not items:
        return "<p class=\"empty\">No claim was rejected.</p>"
    shown = items[:limit]
    top = max(v for _, v, _ in shown) or 1
    label_w, bar_w, row_h = 250, 520, 24
    height = row_h * len(shown) + 8
    out = [f"<svg role=\"img\" aria-label=\"rejected claims by rule\" viewBox=\"0 0 {label_w + bar_w + 170} {height}\" "
           f"width=\"100%\" xmlns=\"http://www.w3.org/2000/svg\">"]
    for i, (label, value, note) in enumerate(shown):
        y = 4 + i * row_h
        w = max(1, round(bar_w * value / top))
        short = label if len(label) <= 34 else label[:33] + "\u2026"
        out.append(
            f"<g><title>{_e(label)}: {value:,} rejected claims, {_e(note)}</title>"
            f"<text x=\"{label_w - 8}\" y=\"{y + 16}\" text-anchor=\"end\">{_e(short)}</text>"
            f"<rect x=\"{label_w}\" y=\"{y + 3}\" width=\"{w}\" height=\"{row_h - 8}\" rx=\"2\" fill=\"{_BAR}\"/>"
            f"<text x=\"{label_w + w + 6}\" y=\"{y + 16}\">{value:,} ({_e(note)})</text></g>"
        )
    out.append("</svg>")
    if len(items) > limit:
        out.append(f"<p class=\"empty\">{len(items) - limit} more rules in summary.json.</p>")
    return "".join(out)


def _month_chart(rows: list[Mapping[str, Any]]) -> str:
    """Vertical bars: rejected claims per month of service, in calendar order."""
    if not rows:
        return "<p class=\"empty\">No claim was rejected.</p>"
    n = len(rows)
    slot = max(18, min(60, 900 // n))
    chart_h, left, bottom = 180, 56, 58
    width = left + slot * n + 10
    top = max(int(r["rejected"]) for r in rows) or 1
    out = [f"<svg role=\"img\" aria-label=\"rejected claims by month of service\" "
           f"viewBox=\"0 0 {width} {chart_h + bottom + 10}\" width=\"100%\" xmlns=\"http://www.w3.org/2000/svg\">",
           f"<text x=\"{left - 6}\" y=\"14\" text-anchor=\"end\">{top:,}</text>",
           f"<text x=\"{left - 6}\" y=\"{chart_h + 10}\" text-anchor=\"end\">0</text>",
           f"<line x1=\"{left}\" y1=\"{chart_h + 10}\" x2=\"{width - 6}\" y2=\"{chart_h + 10}\" stroke=\"#94a3b8\"/>"]
    bar = max(6, slot - 6)
    for i, r in enumerate(rows):
        x = left + i * slot + (slot - bar) // 2
        rej = int(r["rejected"])
        h = round(chart_h * rej / top)
        label = str(r["key"])
        out.append(
            f"<g><title>{_e(label)}: {rej:,} rejected claims ({_e(_money(r['charges_rejected']))})</title>"
            f"<rect x=\"{x}\" y=\"{chart_h + 10 - h}\" width=\"{bar}\" height=\"{h}\" fill=\"{_BAR}\"/>"
            f"<text transform=\"translate({x + bar // 2},{chart_h + 20}) rotate(-50)\" text-anchor=\"end\">{_e(label)}</text></g>"
        )
    out.append("</svg>")
    return "".join(out)


def _count_table(rows: list[Mapping[str, Any]], key_label: str, limit: int = 50) -> str:
    if not rows:
        return "<p class=\"empty\">None.</p>"
    out = [f"<table><tr><th>{_e(key_label)}</th><th class=\"n\">Rejected claims</th>"
           "<th class=\"n\">Charges rejected</th></tr>"]
    for r in rows[:limit]:
        out.append(f"<tr><td>{_e(r['key'])}</td>"
                   f"<td class=\"n\">{int(r['rejected']):,}</td><td class=\"n\">{_e(_money(r['charges_rejected']))}</td></tr>")
    out.append("</table>")
    if len(rows) > limit:
        out.append(f"<p class=\"empty\">{len(rows) - limit} more in summary.json.</p>")
    return "".join(out)


def _top_files(rows: list[Mapping[str, Any]]) -> str:
    if not rows:
        return "<p class=\"empty\">No file has a rejected claim.</p>"
    out = ["<table><tr><th>File</th><th class=\"n\">Claims</th><th class=\"n\">Rejected</th>"
           "<th class=\"n\">Charges rejected</th><th>277CA</th></tr>"]
    for r in rows:
        ack = str(r.get("ack") or "")
        link = f"<a href=\"{_e(ack.replace(os.sep, '/'))}\">{_e(os.path.basename(ack))}</a>" if ack else ""
        out.append(f"<tr><td class=\"f\">{_e(r['file'])}</td><td class=\"n\">{int(r['claims_in']):,}</td>"
                   f"<td class=\"n\">{int(r['rejected']):,}</td><td class=\"n\">{_e(_money(r['charges_rejected']))}</td>"
                   f"<td>{link}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _errors(rows: list[Mapping[str, Any]], limit: int = 200) -> str:
    out = ["<table><tr><th>File</th><th>Problem</th></tr>"]
    for r in rows[:limit]:
        out.append(f"<tr><td class=\"f\">{_e(r['file'])}</td><td>{_e(r['error'])}</td></tr>")
    out.append("</table>")
    if len(rows) > limit:
        out.append(f"<p class=\"empty\">{len(rows) - limit} more in summary.json.</p>")
    return "".join(out)
