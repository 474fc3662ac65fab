# Replay summaries: summary.json, files.csv, rejections.csv, warnings.csv and report.html from
# done records.
#
# Strategy: one pass over the per-file records (in the order given, which the engines make the
# sorted input order), folding totals and the counter tables into memory (their size is bounded
# by the number of rules, codes, payers, providers and months, not by claims) while the per-file
# and per-claim rows stream straight into their CSV files (the first few also kept as examples
# for the report). Names the records do not carry (products, rule titles and fixes, payer
# programs) come from the run's policy and site files, read once here. Every output goes
# through AtomicOutput, so a reader sees the old summary or the new one, never half of one. The
# outputs hold no wall-clock values, so the same records give byte-identical files.
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

__all__ = ["ROW_FIELDS", "REJECTION_FIELDS", "WARNING_FIELDS", "FILE_CSV_FIELDS", "write_summary", "render_html", "TOP_FILES"]

# The per-file result row of a replay (summary.parquet holds all of them, files.csv all but seconds).
ROW_FIELDS = (
    "file", "bytes", "stored_bytes", "transactions", "transactions_passed_through", "claims_in",
    "accepted", "rejected", "unevaluated", "warnings", "charges_in", "charges_rejected", "error",
    "ack", "seconds",
)
FILE_CSV_FIELDS = tuple(f for f in ROW_FIELDS if f != "seconds")
# One row per rejected claim, after the input's `file`: reason (each error's rule and message),
# passage and fix (once each), parts separated by " | ".
REJECTION_FIELDS = ("claim_id", "service_date", "hcpcs", "rules", "charge", "transaction", "segment",
                    "reason", "passage", "fix")
# One row per warning finding (on accepted and rejected claims alike), after the input's `file`.
WARNING_FIELDS = ("claim_id", "service_date", "hcpcs", "rule", "line", "code", "reason", "passage", "fix",
                  "decision", "transaction", "segment")
TOP_FILES = 20
EXAMPLES = 50  # rejected claims and warnings shown in the report (all are in the CSV files)
_DIMENSIONS = ("by_rule", "by_therapy", "by_payer", "by_month", "by_provider")
_NO_DRUG = "(no drug code)"  # the by_therapy key prefix of a claim without a therapy drug code (replay.Collector)
_COUNT_TOTALS = ("bytes", "stored_bytes", "transactions", "transactions_passed_through", "claims_in",
                 "accepted", "rejected", "unevaluated", "warnings")


def write_summary(out_dir: str, records: Iterable[Mapping[str, Any]], *,
                  config: Mapping[str, Any] | None = None, top: int = TOP_FILES) -> dict[str, Any]:
    """Fold replay records into OUT/summary.json, files.csv, rejections.csv, warnings.csv and
    report.html. `config` is summary_config's (its policy and site name the files whose
    product names, rule titles, fixes and payer programs label the report).

    Returns the summary (what summary.json holds)."""
    if not store.is_url(out_dir):
        os.makedirs(out_dir, exist_ok=True)
    labels = _Labels(config or {})
    totals: dict[str, Any] = {k: 0 for k in _COUNT_TOTALS}
    totals.update(files=0, files_unreadable=0, acks_written=0)
    charges_in = charges_rejected = Decimal(0)
    tables: dict[str, dict[str, list]] = {d: {} for d in _DIMENSIONS}
    warned: dict[str, list[int]] = {}  # rule: [claims, findings]
    providers: dict[str, str] = {}
    examples: dict[str, list[dict[str, Any]]] = {"rejections": [], "warnings": []}
    errors: list[dict[str, str]] = []
    best: list[tuple[int, str, dict[str, Any]]] = []  # min-heap of (rejected, -file) for the top files

    files_out = AtomicOutput(store.join(out_dir, "files.csv"))
    rej_out = AtomicOutput(store.join(out_dir, "rejections.csv"))
    warn_out = AtomicOutput(store.join(out_dir, "warnings.csv"))
    try:
        files_csv = _csv(files_out, FILE_CSV_FIELDS)
        rej_csv = _csv(rej_out, ("file",) + REJECTION_FIELDS)
        warn_csv = _csv(warn_out, ("file",) + WARNING_FIELDS)
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
            for kind, sink, fields in (("rejections", rej_csv, REJECTION_FIELDS), ("warnings", warn_csv, WARNING_FIELDS)):
                for r in rec.get(kind, ()):
                    sink.writerow([row["file"], *(r.get(f, "") for f in fields)])
                    if len(examples[kind]) < EXAMPLES:
                        examples[kind].append({"file": row["file"], **{f: r.get(f, "") for f in fields}})
            for dim in _DIMENSIONS:
                _merge(tables[dim], rec.get(dim) or {})
            for rule, c in (rec.get("warnings_by_rule") or {}).items():
                w = warned.setdefault(rule, [0, 0])
                w[0] += int(c.get("claims", 0))
                w[1] += int(c.get("findings", 0))
            for npi, name in (rec.get("providers") or {}).items():
                providers.setdefault(npi, name)
            if int(row.get("rejected") or 0) > 0:
                _keep_top(best, top, row)
        totals["charges_in"] = str(charges_in)
        totals["charges_rejected"] = str(charges_rejected)
        by_rule = _table(tables["by_rule"], order="rejected")
        warnings_by_rule = [{"key": k, "claims": c, "findings": f}
                            for k, (c, f) in sorted(warned.items(), key=lambda kv: (-kv[1][0], kv[0]))]
        by_therapy = _table(tables["by_therapy"], order="rejected")
        summary: dict[str, Any] = {
            "config": dict(config or {}),
            "site_used": labels.site_used,
            "totals": totals,
            "by_rule": by_rule,
            "by_therapy": [{**r, **labels.therapy(r["key"])} for r in by_therapy],
            "by_payer": [{**r, "program": labels.program(r["key"])} for r in _table(tables["by_payer"], order="rejected")],
            "by_month": _table(tables["by_month"], order="key"),
            "by_provider": [{**r, "name": providers.get(r["key"], "")}
                            for r in _table(tables["by_provider"], order="rejected", warned=True)],
            "warnings_by_rule": warnings_by_rule,
            "rules": labels.rules(r["key"] for r in by_rule + warnings_by_rule),
            "rejection_examples": examples["rejections"],
            "warning_examples": examples["warnings"],
            "top_files": [_top_row(r) for _, _, r in sorted(best, key=lambda t: (-t[0], t[2]["file"]))],
            "errors": errors,
        }
        _finish_csv(files_out, files_csv)
        _finish_csv(rej_out, rej_csv)
        _finish_csv(warn_out, warn_csv)
    except BaseException:
        files_out.discard()
        rej_out.discard()
        warn_out.discard()
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
            b = table[key] = [0, Decimal(0), 0]
        b[0] += int(c.get("rejected", 0))
        b[1] += Decimal(c.get("charges_rejected", "0"))
        b[2] += int(c.get("warned", 0))


def _table(table: dict[str, list], *, order: str, warned: bool = False) -> list[dict[str, Any]]:
    """Rows {key, rejected, charges_rejected[, warned]}: most rejections (then warned claims)
    first, or by key ('(none)' last)."""
    items = sorted(table.items(), key=(lambda kv: (-kv[1][0], -kv[1][2], kv[0])) if order == "rejected"
                   else (lambda kv: (kv[0].startswith("("), kv[0])))
    return [{"key": key, "rejected": b[0], "charges_rejected": str(b[1]), **({"warned": b[2]} if warned else {})}
            for key, b in items]


class _Labels:
    """Names for the report from the run's policy and site files: product names of therapy
    codes, rule titles, severities and fixes, and the Medi-Cal program of payer ids."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        from ..policy import load_policy, load_site

        policy_path = config.get("policy")
        policy = load_policy(None if policy_path in (None, "", "built-in") else policy_path)
        site_path = config.get("site") or None
        self.site_used = site_path is not None
        self._site = load_site(site_path, policy=policy) if site_path else None
        self._therapies: dict[str, Any] = {}
        self._rules: dict[str, Any] = {}
        for view in policy.views():  # a later revision's entry wins
            self._therapies.update(view.therapies)
            self._rules.update(view.rules)

    def therapy(self, key: str) -> dict[str, str]:
        t = self._therapies.get(key)
        if t is not None:
            return {"product": t.product, "generic": t.generic}
        if key.startswith(_NO_DRUG):
            rest = key[len(_NO_DRUG):].strip()
            return {"product": "No CGT drug code on the claim" + (f" (only {rest})" if rest else ""), "generic": ""}
        return {"product": "", "generic": ""}

    def program(self, payer_id: str) -> str:
        if payer_id.startswith("("):
            return "no payer id on the claim"
        if self._site is None:
            return "unknown (no site file)"
        if payer_id in (self._site.payers("ffs") or ()):
            return "Medi-Cal FFS"
        if payer_id in (self._site.payers("mcp") or ()):
            return "managed care plan"
        return "unknown (not in the site file's [payers])"

    def rules(self, ids: Iterable[str]) -> dict[str, dict[str, str]]:
        out = {}
        for rule_id in sorted(set(ids)):
            spec = self._rules.get(rule_id)
            out[rule_id] = {"title": spec.title, "fix": spec.fix} if spec is not None else {"title": "", "fix": ""}
        return out


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
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}h3{font-size:14px;margin:18px 0 6px}
.sub{color:#5b6775;margin:0 0 18px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #dde3ea;border-radius:8px;padding:12px 16px;min-width:140px}
.card b{display:block;font-size:22px}.card span{color:#5b6775;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card.bad b{color:#b42318}
.notice{background:#fff7e6;border:1px solid #f0c36d;border-radius:8px;padding:10px 16px;margin:0 0 18px}
.notice b{color:#8a5300}
section{background:#fff;border:1px solid #dde3ea;border-radius:8px;padding:4px 18px 16px;margin-top:18px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #edf0f4;vertical-align:top}
th{color:#5b6775;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.f{word-break:break-all}td.c{white-space:nowrap}td.fix{color:#334155;font-size:12px;width:48%}td.rule{width:32%}td.rule b{font-weight:600}
svg text{font:12px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:#1d2733}
svg text.v{font-weight:600}
.empty,.note{color:#5b6775}.empty{font-style:italic}.note{font-size:12px;margin:6px 0 0}
footer{color:#5b6775;font-size:12px;margin-top:24px}
"""
_BAR = "#c2410c"
_WARN_BAR = "#b7791f"


def render_html(summary: Mapping[str, Any]) -> str:
    """The report page for a summary (as returned by write_summary)."""
    t = summary["totals"]
    cfg = summary.get("config") or {}
    rules = summary.get("rules") or {}
    e = _e
    claims = int(t["claims_in"])
    rejected = int(t["rejected"])
    warnings_by_rule = summary.get("warnings_by_rule") or []
    warned_claims = sum(int(w["claims"]) for w in warnings_by_rule)
    share = f"{100 * rejected / claims:.1f}% of claims" if claims else "no claims"
    setting = [f"policy: {cfg.get('policy') or 'built-in'}"]
    setting.append(f"site: {cfg['site']}" if cfg.get("site") else "no site file")
    setting.append(f"evaluated as of {cfg['as_of']}" if cfg.get("as_of") else "each claim on its dates of service")
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">",
        "<title>edi-cgt replay report</title><style>", _CSS, "</style></head><body><main>",
        "<h1>Cell and gene therapy claims: replay report</h1>",
        f"<p class=\"sub\">{e('; '.join(setting))}</p>",
    ]
    if not summary.get("site_used", bool(cfg.get("site"))):
        parts.append(
            "<p class=\"notice\" id=\"no-site\"><b>No site file was used.</b> Which payer ids are Medi-Cal "
            "fee-for-service or a managed care plan, and which facilities are qualified, hemophilia or REMS-certified "
            "treatment centers, was unknown: the sickle cell carve-out could only warn "
            "(CGT-SCD-CARVE-OUT-PAYER-UNKNOWN), the REMS facility check did not run, and a claim from a treatment "
            "center outside a hospital outpatient setting was rejected as not in an allowed setting "
            "(CGT-SETTING-NOT-ALLOWED). Replay with "
            "<code>--site site.toml</code> for the site's results.</p>")
    parts += [
        "<div class=\"cards\">",
        _card("Files", f"{t['files']:,}", f"{t['files_unreadable']:,} unreadable" if t["files_unreadable"] else "all readable",
              bad=bool(t["files_unreadable"])),
        _card("Claims", f"{claims:,}", f"{_mb(t['bytes'])} of X12"),
        _card("Rejected", f"{rejected:,}", share, bad=rejected > 0),
        _card("Charges rejected", _money(t["charges_rejected"]), f"of {_money(t['charges_in'])} billed", bad=rejected > 0),
        _card("Accepted", f"{int(t['accepted']):,}", "with or without warnings"),
        _card("Warnings", f"{int(t['warnings']):,}", f"on {warned_claims:,} claims"),
        _card("Not evaluated", f"{int(t['unevaluated']):,}",
              f"{int(t['transactions_passed_through']):,} transactions passed through"),
        "</div>",
        "<section id=\"rules\"><h2>Rejected claims by rule</h2>",
        _hbars([(r["key"], int(r["rejected"]), _money(r["charges_rejected"])) for r in summary["by_rule"] if int(r["rejected"])],
               "rejected claims by rule", "No claim was rejected."),
        _rule_table([(r["key"], int(r["rejected"]), _money(r["charges_rejected"])) for r in summary["by_rule"] if int(r["rejected"])],
                    rules, ("Rejected claims", "Charges rejected")),
        "<p class=\"note\">A claim rejected by two rules counts under both. Each rejected claim, with its reasons, the "
        "policy passage and what to fix: <a href=\"rejections.csv\">rejections.csv</a>.</p>",
        "</section>",
        "<section id=\"months\"><h2>Rejected claims by month of service</h2>",
        _month_chart(summary["by_month"]),
        "</section>",
        "<section id=\"therapies\"><h2>Rejected claims by therapy</h2>",
        _therapy_table(summary["by_therapy"]),
        "<p class=\"note\">A claim counts once under each therapy (drug) code it carries. CPT 38228 is the CAR-T "
        "administration, not a therapy: a claim with no drug code is counted in its own row.</p>",
        "</section>",
        "<section id=\"payers\"><h2>Rejected claims by payer</h2>",
        _payer_table(summary["by_payer"]),
        "</section>",
        "<section id=\"providers\"><h2>Billing providers</h2>",
        _provider_table(summary.get("by_provider") or []),
        "</section>",
        "<section id=\"warnings\"><h2>Warnings</h2>",
        "<p class=\"note\">Warnings do not reject a claim: they point at something to check (a site may raise a "
        "rule to an error in its [severity] table).</p>",
        _hbars([(w["key"], int(w["claims"]), _plural(int(w["findings"]), "warning")) for w in warnings_by_rule],
               "claims with warnings by rule", "No warnings.", color=_WARN_BAR, unit="claims"),
        _rule_table([(w["key"], int(w["claims"]), f"{int(w['findings']):,}") for w in warnings_by_rule],
                    rules, ("Claims", "Warnings")),
        _examples(summary.get("warning_examples") or [], int(t["warnings"]), "warnings.csv",
                  ("rule", "line")),
        "</section>",
        "<section id=\"rejections\"><h2>Rejected claims</h2>",
        _examples(summary.get("rejection_examples") or [], rejected, "rejections.csv",
                  ("charge",)),
        "</section>",
        "<section id=\"files\"><h2>Files with the most rejections</h2>",
        _top_files(summary["top_files"]),
        "</section>",
    ]
    if summary["errors"]:
        parts += ["<section><h2>Files that could not be read</h2>", _errors(summary["errors"]), "</section>"]
    parts += [
        "<footer>Written by edi-cgt ", e(str(cfg.get("edi_cgt", ""))),
        " replay. Per-claim details: <a href=\"rejections.csv\">rejections.csv</a>, <a href=\"warnings.csv\">warnings.csv</a>; "
        "per-file details: <a href=\"files.csv\">files.csv</a>; 277CA files: acks/. ",
        "No member names, ids or birth dates appear in this report.</footer>",
        "</main></body></html>\n",
    ]
    return "".join(parts)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _card(label: str, value: str, note: str, *, bad: bool = False) -> str:
    return (f"<div class=\"card{' bad' if bad else ''}\"><span>{_e(label)}</span><b>{_e(value)}</b>"
            f"<small>{_e(note)}</small></div>")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


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


def _hbars(items: list[tuple[str, int, str]], label: str, empty: str, limit: int = 30, *,
           color: str = _BAR, unit: str = "rejected claims") -> str:
    """Horizontal bars, one per (label, value, note), largest first, the value written at the end."""
    if not items:
        return f"<p class=\"empty\">{_e(empty)}</p>"
    shown = items[:limit]
    top = max(v for _, v, _ in shown) or 1
    label_w, bar_w, row_h = 250, 520, 24
    height = row_h * len(shown) + 8
    out = [f"<svg role=\"img\" aria-label=\"{_e(label)}\" viewBox=\"0 0 {label_w + bar_w + 190} {height}\" "
           f"width=\"100%\" xmlns=\"http://www.w3.org/2000/svg\">"]
    for i, (name, value, note) in enumerate(shown):
        y = 4 + i * row_h
        w = max(1, round(bar_w * value / top))
        short = name if len(name) <= 34 else name[:33] + "\u2026"
        out.append(
            f"<g><title>{_e(name)}: {value:,} {_e(unit)}, {_e(note)}</title>"
            f"<text x=\"{label_w - 8}\" y=\"{y + 16}\" text-anchor=\"end\">{_e(short)}</text>"
            f"<rect x=\"{label_w}\" y=\"{y + 3}\" width=\"{w}\" height=\"{row_h - 8}\" rx=\"2\" fill=\"{color}\"/>"
            f"<text x=\"{label_w + w + 6}\" y=\"{y + 16}\">{value:,} ({_e(note)})</text></g>"
        )
    out.append("</svg>")
    if len(items) > limit:
        out.append(f"<p class=\"empty\">{len(items) - limit} more rules in summary.json.</p>")
    return "".join(out)


def _rule_table(rows: list[tuple[str, int, str]], rules: Mapping[str, Mapping[str, str]],
                heads: tuple[str, str]) -> str:
    """Rule id, title and fix of each (rule, count, second column) row."""
    if not rows:
        return ""
    out = [f"<table><tr><th>Rule: what it checks</th><th class=\"n\">{_e(heads[0])}</th>"
           f"<th class=\"n\">{_e(heads[1])}</th><th>What to fix</th></tr>"]
    for key, count, second in rows:
        info = rules.get(key) or {}
        out.append(f"<tr><td class=\"rule\"><b>{_e(key)}</b><br>{_e(info.get('title', ''))}</td>"
                   f"<td class=\"n\">{count:,}</td><td class=\"n\">{_e(second)}</td>"
                   f"<td class=\"fix\">{_e(info.get('fix', ''))}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _month_chart(rows: list[Mapping[str, Any]]) -> str:
    """Vertical bars: rejected claims per month of service, in calendar order, each bar's value
    written above it (turned upright when the bars are narrow)."""
    if not rows:
        return "<p class=\"empty\">No claim was rejected.</p>"
    n = len(rows)
    slot = max(18, min(60, 900 // n))
    chart_h, left, bottom, head = 180, 56, 58, 40
    base = head + chart_h  # y of the axis
    width = left + slot * n + 10
    top = max(int(r["rejected"]) for r in rows) or 1
    out = [f"<svg role=\"img\" aria-label=\"rejected claims by month of service\" "
           f"viewBox=\"0 0 {width} {base + bottom}\" width=\"100%\" style=\"max-width:{width}px\" "
           "xmlns=\"http://www.w3.org/2000/svg\">",
           f"<text x=\"{left - 6}\" y=\"{head + 4}\" text-anchor=\"end\">{top:,}</text>",
           f"<text x=\"{left - 6}\" y=\"{base}\" text-anchor=\"end\">0</text>",
           f"<line x1=\"{left}\" y1=\"{base}\" x2=\"{width - 6}\" y2=\"{base}\" stroke=\"#94a3b8\"/>"]
    bar = max(6, slot - 6)
    upright = slot < 34
    for i, r in enumerate(rows):
        x = left + i * slot + (slot - bar) // 2
        rej = int(r["rejected"])
        h = round(chart_h * rej / top)
        label = str(r["key"])
        cx = x + bar // 2
        value = (f"<text class=\"v\" transform=\"translate({cx + 4},{base - h - 4}) rotate(-90)\">{rej:,}</text>" if upright
                 else f"<text class=\"v\" x=\"{cx}\" y=\"{base - h - 4}\" text-anchor=\"middle\">{rej:,}</text>")
        out.append(
            f"<g><title>{_e(label)}: {rej:,} rejected claims ({_e(_money(r['charges_rejected']))})</title>"
            f"<rect x=\"{x}\" y=\"{base - h}\" width=\"{bar}\" height=\"{h}\" fill=\"{_BAR}\"/>{value}"
            f"<text transform=\"translate({cx},{base + 10}) rotate(-50)\" text-anchor=\"end\">{_e(label)}</text></g>"
        )
    out.append("</svg>")
    return "".join(out)


def _rows_table(heads: list[tuple[str, bool]], rows: Iterable[list[str]], total: int, limit: int = 50) -> str:
    """A table of escaped cells; heads are (title, numeric)."""
    num_class = ' class="n"'
    out = ["<table><tr>" + "".join(f"<th{num_class if num else ''}>{_e(h)}</th>" for h, num in heads) + "</tr>"]
    for cells in rows:
        out.append("<tr>" + "".join(f"<td{num_class if num else ''}>{_e(c)}</td>" for c, (_, num) in zip(cells, heads)) + "</tr>")
    out.append("</table>")
    if total > limit:
        out.append(f"<p class=\"empty\">{total - limit} more in summary.json.</p>")
    return "".join(out)


def _therapy_table(rows: list[Mapping[str, Any]], limit: int = 50) -> str:
    if not rows:
        return "<p class=\"empty\">None.</p>"
    return _rows_table(
        [("Therapy", False), ("Code", False), ("Rejected claims", True), ("Charges rejected", True)],
        ([(r.get("product") or "") + (f" ({r['generic']})" if r.get("generic") else ""),
          "" if str(r["key"]).startswith("(") else r["key"], f"{int(r['rejected']):,}", _money(r["charges_rejected"])]
         for r in rows[:limit]), len(rows), limit)


def _payer_table(rows: list[Mapping[str, Any]], limit: int = 50) -> str:
    if not rows:
        return "<p class=\"empty\">None.</p>"
    return _rows_table(
        [("Payer id", False), ("Medi-Cal program", False), ("Rejected claims", True), ("Charges rejected", True)],
        ([r["key"], r.get("program", ""), f"{int(r['rejected']):,}", _money(r["charges_rejected"])] for r in rows[:limit]),
        len(rows), limit)


def _provider_table(rows: list[Mapping[str, Any]], limit: int = 50) -> str:
    if not rows:
        return "<p class=\"empty\">No claim was rejected or warned about.</p>"
    return _rows_table(
        [("Billing provider", False), ("NPI", False), ("Rejected claims", True), ("Charges rejected", True),
         ("Claims with warnings", True)],
        ([r.get("name", ""), r["key"], f"{int(r['rejected']):,}", _money(r["charges_rejected"]), f"{int(r.get('warned', 0)):,}"]
         for r in rows[:limit]), len(rows), limit)


def _examples(rows: list[Mapping[str, Any]], total: int, csv_name: str, columns: tuple[str, ...]) -> str:
    """The first rows of a per-claim CSV file (file, claim, date, `columns`, reason), with a link
    to all of it. A reason of several parts (' | ') gets a line each."""
    link = f"<a href=\"{_e(csv_name)}\">{_e(csv_name)}</a>"
    if not rows:
        return f"<p class=\"empty\">None ({link} has the column headings only).</p>"
    shown = f"The first {len(rows):,} of {total:,}" if total > len(rows) else f"All {total:,}"
    heads = ["File", "Claim", "Date of service", *(c.capitalize() for c in columns), "Reason"]
    out = [f"<h3>{_e(shown)}; each with the policy passage and what to fix in {link}</h3>",
           "<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in heads) + "</tr>"]
    for r in rows:
        cells = [os.path.basename(str(r.get("file", ""))), r.get("claim_id", ""), r.get("service_date", "")]
        cells += [_money(r.get(c)) if c == "charge" else r.get(c, "") for c in columns]
        reason = "<br>".join(_e(part) for part in str(r.get("reason", "")).split(" | "))
        out.append("<tr>" + "".join(f"<td class=\"c\">{_e(c)}</td>" for c in cells) + f"<td>{reason}</td></tr>")
    out.append("</table>")
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
