# Shared test helpers: where the shared corpus is, running the CLI, and pyx12 as an oracle.
from __future__ import annotations

import csv
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pyx12.error_handler
import pyx12.params
import pyx12.x12n_document

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
SHARED = ROOT.parent / "shared"
SAMPLES = SHARED / "samples"


def sample_rows() -> list[dict[str, str]]:
    """MANIFEST.tsv rows of ../shared/samples (empty when the corpus is absent)."""
    manifest = SAMPLES / "MANIFEST.tsv"
    if not manifest.exists():
        return []
    with manifest.open(newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def manifest_counts(row: dict[str, str]) -> tuple[int, int, int, int] | None:
    """(ISA, GS, ST, CLM) counts from a MANIFEST format column, if it states them."""
    fmt = row.get("format", "")
    marker = "ISA/GS/ST/CLM="
    if marker not in fmt:
        return None
    nums = fmt.split(marker, 1)[1].split(";")[0].strip().split("/")
    return tuple(int(n) for n in nums)  # type: ignore[return-value]


def pyx12_validate(data: bytes) -> tuple[bool, str]:
    """Validate X12 bytes with pyx12's full 5010 validator. Returns (ok, 999 text)."""
    text = data.decode("latin-1")
    logging.getLogger("pyx12").setLevel(logging.CRITICAL)
    param = pyx12.params.params()
    fd_997 = io.StringIO()
    ok = pyx12.x12n_document.x12n_document(param, io.StringIO(text), fd_997, None)
    return bool(ok), fd_997.getvalue()


def run_cli(*args: str, stdin: bytes | None = None, env: dict | None = None, cwd: Path | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `edi-cgt ARGS` as a real process (python -m edi_cgt), capturing bytes."""
    full_env = dict(os.environ)
    full_env.setdefault("PYTHONPATH", str(ROOT))
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "edi_cgt", *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        env=full_env,
        cwd=cwd or ROOT,
        timeout=timeout,
    )


def interchange(body: str, *, element: str = "*", component: str = ":", segment: str = "~",
                repetition: str = "^", newline: str = "\n", version: str = "005010X222A1",
                control: int = 1) -> bytes:
    """Wrap transaction bodies (segments one per line, '*' and ':' as written) in ISA/GS/IEA.

    Each transaction in `body` starts with 'ST*837*<ctl>' and ends with 'SE**<ctl>'; SE01 and
    the GE/IEA counts are filled in here, then the delimiters are swapped for the requested ones.
    """
    lines = [ln.strip() for ln in body.strip().splitlines() if ln.strip()]
    out: list[str] = []
    count = 0
    transactions = 0
    for ln in lines:
        if ln.startswith("ST*"):
            count = 0
            transactions += 1
        count += 1
        if ln.startswith("SE*"):
            parts = ln.split("*")
            parts[1] = str(count)
            ln = "*".join(parts)
        out.append(ln)
    isa = (f"ISA*00*          *00*          *ZZ*SUBMITTER01    *ZZ*RECEIVER01     *250301*1200*"
           f"{repetition}*00501*{control:09d}*0*T*{component}")
    gs = f"GS*HC*SUBMITTER01*RECEIVER01*20250301*1200*{control}*X*{version}"
    segs = [gs, *out, f"GE*{transactions}*{control}", f"IEA*1*{control:09d}"]

    def conv(s: str) -> str:
        return s.replace(":", "\x00").replace("*", element).replace("\x00", component)

    text = isa.replace("*", element) + segment + newline
    text += "".join(conv(s) + segment + newline for s in segs)
    return text.encode("latin-1")
