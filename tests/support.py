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
sys.path.insert(0, str(ROOT))
from fuzz.oracle import error_lines  # noqa: E402  (re-exported: the one reader of error messages)

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


def segments(data: bytes) -> list[list[str]]:
    """Split on the delimiters found in the ISA; elements as strings."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    text = data.decode("ascii")
    element, terminator = text[3], text[105]
    out = []
    for raw in text.split(terminator):
        raw = raw.lstrip("\r\n")
        if raw:
            out.append(raw.split(element))
    return out


def check_envelope_and_hl(data: bytes) -> dict[str, int]:
    """Independent check of counts, control numbers and the HL tree; returns segment counts."""
    segs = segments(data)
    counts = {"ISA": 0, "GS": 0, "ST": 0, "CLM": 0}
    isa13 = gs06 = st02 = None
    groups = sts = st_start = 0
    last_of_level: dict[str, str] = {}
    previous_hl: list[str] | None = None
    expected_hl = 1
    for i, seg in enumerate(segs):
        tag = seg[0]
        if tag in counts:
            counts[tag] += 1
        if tag == "ISA":
            isa13, groups = seg[13], 0
        elif tag == "GS":
            gs06, sts, groups = seg[6], 0, groups + 1
        elif tag == "ST":
            st02, st_start, sts = seg[2], i, sts + 1
            last_of_level, previous_hl, expected_hl = {}, None, 1
        elif tag == "HL":
            assert seg[1] == str(expected_hl), f"HL01 {seg[1]} where {expected_hl} was due"
            expected_hl += 1
            parent = {"20": None, "22": "20", "23": "22"}[seg[3]]
            assert seg[2] == (last_of_level[parent] if parent else ""), f"HL {seg[1]} parent {seg[2]}"
            if previous_hl is not None:  # HL04 of the previous HL: 1 iff this HL is its child
                child = seg[2] == previous_hl[1]
                assert previous_hl[4] == ("1" if child else "0"), f"HL {previous_hl[1]} HL04"
            last_of_level[seg[3]] = seg[1]
            previous_hl = seg
        elif tag == "SE":
            assert int(seg[1]) == i - st_start + 1 and seg[2] == st02
            if previous_hl is not None:
                assert previous_hl[4] == "0", f"last HL {previous_hl[1]} says it has children"
        elif tag == "GE":
            assert seg[1] == str(sts) and seg[2] == gs06
        elif tag == "IEA":
            assert seg[1] == str(groups) and seg[2] == isa13
    return counts


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


# Two small hand-written transactions used across tests: an 837P with COB, a dependent
# (2000C) and a void; an 837I outpatient CAR-T claim with a clinical-trial condition code.
P_BODY = """
ST*837*0001*005010X222A1
BHT*0019*00*BATCH42*20250301*1200*CH
NM1*41*2*SUBMITTER CLINIC*****46*SUB01
PER*IC*BILLER*TE*5555551212
NM1*40*2*MEDI-CAL*****46*610442
HL*1**20*1
NM1*85*2*CHILDRENS HOSPITAL*****XX*1234567893
N3*1 MAIN ST
N4*OAKLAND*CA*94601
REF*EI*123456789
HL*2*1*22*0
SBR*P*18*******MC
NM1*IL*1*TESTPATIENT*ALPHA****MI*MCAL000001
DMG*D8*20100102*F
NM1*PR*2*MEDI-CAL*****PI*610442
CLM*CLAIM-A*400500***22:B:1*Y*A*Y*Y
REF*G1*12345678901
REF*P4*87654321
REF*D9*TRACE-A
HI*ABK:C8338*ABF:Z006
NM1*77*2*INFUSION CENTER*****XX*1245319599
N3*2 MAIN ST
N4*OAKLAND*CA*94601
SBR*S*18*******CI
NM1*IL*1*TESTPATIENT*ALPHA****MI*OTHER99
NM1*PR*2*OTHER PLAN*****PI*OTHER01
LX*1
SV1*HC:Q2041:Q0*400000*UN*1*19**1
DTP*472*D8*20250301
REF*6R*LINE-A1
REF*G1*LINEAUTH1
LIN**N4*71287011901
CTP****1*UN
LX*2
SV1*HC:38228*500*UN*1***1
DTP*472*RD8*20250301-20250302
HL*3*1*22*1
SBR*P*01*******MC
NM1*IL*1*TESTPARENT*BETA****MI*MCAL000002
NM1*PR*2*MEDI-CAL MANAGED PLAN*****PI*MCPLAN01
HL*4*3*23*0
PAT*19
NM1*QC*1*TESTCHILD*GAMMA
DMG*D8*20200505*M
CLM*CLAIM-B*2000000***22:B:8*Y*A*Y*Y
HI*ABK:D5700
LX*1
SV1*HC:J3392*2000000*UN*1***1
DTP*472*D8*20251015
SE**0001
"""

I_BODY = """
ST*837*0002*005010X223A2
BHT*0019*00*BATCHI*20250301*1200*CH
NM1*41*2*HOSPITAL BILLING*****46*SUB02
PER*IC*BILLER*TE*5555551212
NM1*40*2*MEDI-CAL*****46*610442
HL*1**20*1
NM1*85*2*GENERAL HOSPITAL*****XX*1234567893
N3*500 HOSPITAL DR
N4*LOS ANGELES*CA*900010001
REF*EI*987654321
HL*2*1*22*0
SBR*P*18*******MC
NM1*IL*1*TESTPATIENT*DELTA****MI*MCAL000003
N3*1 ELM ST
N4*LOS ANGELES*CA*900010001
DMG*D8*19700101*M
NM1*PR*2*MEDI-CAL*****PI*610442
CLM*CLAIM-I*770620***13:A:1**A*Y*Y
DTP*434*RD8*20250601-20250602
CL1*1*1*01
REF*G1*22233344455
HI*ABK:C4900
HI*BG:30
NM1*71*1*ATTENDING*DOC****XX*1245319599
LX*1
SV2*0891*HC:Q2057*770000*UN*1
DTP*472*D8*20250601
LX*2
SV2*0260**620*UN*2
SE**0002
"""


def run_cli_tty(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: float = 300,
                columns: int = 200, shell: str | None = None) -> tuple[int, bytes, bytes]:
    """Run `edi-cgt ARGS` with stderr on a pseudo-terminal, as a person at a terminal sees it.

    Returns (exit status, stdout bytes, everything written to the terminal). stdin is empty,
    stdout a file. With `shell`, runs that bash command line instead (`edi-cgt` in it means
    `python -m edi_cgt` from this checkout), stdout and stderr both on the terminal."""
    import pty
    import select
    import tempfile
    import time

    full_env = dict(os.environ)
    full_env.setdefault("PYTHONPATH", str(ROOT))
    full_env.pop("NO_COLOR", None)
    full_env.update({"COLUMNS": str(columns), "TERM": "xterm"})
    if env:
        full_env.update(env)
    master, slave = pty.openpty()
    with tempfile.TemporaryFile() as out:
        if shell is not None:
            cmd = ["bash", "-o", "pipefail", "-c", shell.replace("edi-cgt", f"'{sys.executable}' -m edi_cgt")]
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=full_env,
                                    cwd=cwd or ROOT)
        else:
            proc = subprocess.Popen([sys.executable, "-m", "edi_cgt", *args], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=slave, env=full_env, cwd=cwd or ROOT)
        os.close(slave)
        seen = bytearray()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 1 << 16)
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not data:
                    break
                seen += data
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            raise TimeoutError(f"edi-cgt {' '.join(args) or shell} ran over {timeout} s")
        status = proc.wait(timeout=30)
        os.close(master)
        out.seek(0)
        return status, out.read(), bytes(seen)


def json_events(stderr: bytes | str) -> list[dict]:
    """The JSON log events of a run whose stderr was not a terminal."""
    import json

    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def p_claims(claims: str) -> bytes:
    """An interchange of one 837P transaction: P_BODY's submitter, receiver, billing provider
    and subscriber (Medi-Cal FFS 610442), then `claims` (CLM onward, segments one per line)."""
    head = P_BODY[: P_BODY.index("CLM*")]
    return interchange(f"{head}{claims.strip()}\nSE**0001\n")
