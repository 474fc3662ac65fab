# The benchmark report as text tables (for people) and JSON (for machines and the record).
#
# Strategy: pure functions of a bench.runner.Report; nothing here measures or decides. The text
# has a table per corpus, a summary of `filter` across shapes, the memory checks, and the
# targets, each judged on every shape it applies to and marked met / MISSED with its figure.
from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .runner import Command, Report

__all__ = ["format_report", "write_json"]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}x"


def _corpus_tables(report: Report) -> list[str]:
    out: list[str] = []
    for corpus in report.corpora:
        rows = []
        for r in (r for r in report.results if r.corpus is corpus):
            runs = [x.seconds for x in r.runs]
            rows.append([r.command.name, _fmt(r.median_s, 3), f"{min(runs):.3f}-{max(runs):.3f}", _fmt(r.mb_s, 1),
                         _fmt(r.us_per_claim, 1), _fmt(r.peak_rss_mib, 1), _fmt(r.ratio_split, 3),
                         _fmt(r.ratio_elements, 3)])
        if not rows:
            continue
        out.append("")
        out.append(f"{corpus.label}: {corpus.size / 1e6:.1f} MB, {corpus.claims:,} claims "
                   f"({corpus.cgt_claims:,} CGT, {corpus.expected_rejects:,} meant to be rejected), "
                   f"{corpus.transactions:,} transactions  [{corpus.shape.name}]")
        out.append(_table(["command", "median s", "range s", "MB/s", "us/claim", "peak RSS MiB", "x split",
                           "x elements"], rows, [False] + [True] * 7))
    return out


def _summary(report: Report) -> list[str]:
    """`filter` and `filter --read-all` on every corpus, one line each."""
    by = {(id(r.corpus), r.command.name): r for r in report.results}
    rows = []
    for c in report.corpora:
        f, a, s = by.get((id(c), "filter")), by.get((id(c), "read-all")), by.get((id(c), "split"))
        if f is None and a is None:
            continue
        rows.append([c.label, _fmt(s.mb_s if s else None, 1), _fmt(f.mb_s if f else None, 1),
                     _fmt(f.us_per_claim if f else None, 1), _fmt(f.ratio_split if f else None, 3),
                     _fmt(f.ratio_elements if f else None, 3), _fmt(a.mb_s if a else None, 1),
                     _fmt(a.ratio_split if a else None, 3)])
    if not rows:
        return []
    return ["", "filter across shapes", _table(
        ["corpus", "split MB/s", "filter MB/s", "us/claim", "x split", "x elements", "read-all MB/s",
         "read-all x split"], rows, [False] + [True] * 7)]


def _memory(report: Report) -> list[str]:
    if not report.memory:
        return []
    rows = [[m.name, _fmt(m.size / 1e6, 1), f"{m.run.seconds:.1f}", _fmt(m.mb_s, 1), _fmt(m.peak_rss_mib, 1),
             m.description] for m in report.memory]
    return ["", "memory (one run each)", _table(["check", "MB", "seconds", "MB/s", "peak RSS MiB", "input"], rows,
                                                [False, True, True, True, True, False])]


def _targets(report: Report) -> list[str]:
    if not report.targets:
        return []
    out = ["", "targets (issue 11; reported, never asserted)"]
    specs = list(dict.fromkeys(t.spec for t in report.targets))
    for spec in specs:
        rows = [t for t in report.targets if t.spec is spec]
        judged = [t for t in rows if t.passed is not None]
        met = sum(1 for t in judged if t.passed)
        if not judged:
            out.append(f"- {spec.name}: not measured in this run")
            continue
        verdict = "met" if met == len(judged) else "MISSED"
        out.append(f"- {spec.name}: {verdict} (met on {met} of {len(judged)})")
        for t in judged:
            figure = f"{t.measured:.1f} MiB" if t.unit == "MiB" else _x(t.measured)
            out.append(f"    {'met   ' if t.passed else 'MISSED'}  {figure:>10}  {t.subject}")
    return out


def _unique_commands(report: Report) -> list[Command]:
    seen: dict[str, Command] = {}
    for r in report.results:
        seen.setdefault(r.command.name, r.command)
    return list(seen.values())


def format_report(report: Report) -> str:
    """The report as plain-text tables."""
    m = report.machine
    out = [f"edi-cgt benchmark ({m['edi_cgt_source']}): {m['platform']}, Python {m['python']}, {m['cpus']} CPUs; "
           f"median of {report.repeat} runs per figure; whole processes (start-up included); "
           f"{report.seconds / 60:.1f} minutes"]
    out.extend(f"WARNING: {w}" for w in report.warnings)
    if report.load:
        first, last = report.load[0], report.load[-1]
        out.append(f"load averages (1/5/15 min): start {first['load1']}/{first['load5']}/{first['load15']}, "
                   f"end {last['load1']}/{last['load5']}/{last['load15']}, highest 1-min "
                   f"{max(e['load1'] for e in report.load)} ({len(report.load)} readings, all in the JSON)")
    out.extend(_corpus_tables(report))
    out.extend(_summary(report))
    out.extend(_memory(report))
    out.extend(_targets(report))
    out.append("")
    out.append("x split / x elements: the baseline's median seconds over the command's (its MB/s over the "
               "baseline's); us/claim: median microseconds per claim of the corpus")
    out.append("commands: " + "; ".join(f"{c.name} = {c.note}" for c in _unique_commands(report)))
    return "\n".join(out)


def write_json(report: Report, path: str | os.PathLike) -> None:
    text = json.dumps(report.as_dict(), indent=1) + "\n"
    if str(path) == "-":
        sys.stdout.write(text)
        return
    Path(path).write_text(text)

