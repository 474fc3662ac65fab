# Property-based tests: generated 837 interchanges through the filter, whatever is rejected.
#
# Hypothesis draws the shape (interchanges, groups, transactions, claims per transaction, 837P
# or 837I), the layout (delimiters, CRLF/LF/none, BOM, chunk size) and which claims a
# decision function rejects; bench.corpus writes the claims (subscribers and 2000C
# dependents, COB loops, CGT and routine claims). The properties:
#   - claims in = clean + rejected, with ids matching (fuzz.oracle, its own segment cutting);
#   - nothing rejected => the clean 837 is the input, byte for byte;
#   - the clean 837 re-read gives exactly the accepted claims, in order, and is well formed
#     (no envelope issue, no HL notice: counts and HL numbers were made right);
#   - the 277CA lists exactly the rejected claim ids, in order.
# A few examples go through the real CLI with the real policy, reading every claim and not.
from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from fuzz.oracle import (  # noqa: E402
    check_conservation,
    check_outcome,
    claim_ids,
    filter_in_process,
    rejected_ids,
    run_filter_forked,
)

from bench import corpus  # noqa: E402
from edi_cgt.claims.model import Claim  # noqa: E402
from edi_cgt.pipeline import read_claims  # noqa: E402
from edi_cgt.policy.findings import ERROR, AckCode, Decision, Finding  # noqa: E402
from edi_cgt.x12.envelope import Envelope  # noqa: E402
from edi_cgt.x12.reader import iter_segments  # noqa: E402

# CI: 50 examples, derandomized (the same every run). A longer, random search:
#   EDI_CGT_PROPERTY_EXAMPLES=2000 python -m pytest tests/test_properties.py
_EXAMPLES = os.environ.get("EDI_CGT_PROPERTY_EXAMPLES")
PROPERTY_SETTINGS = settings(max_examples=int(_EXAMPLES or 50), deadline=None, derandomize=not _EXAMPLES,
                             suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Delimiter candidates: none of them occurs in the generator's data (letters, digits, space,
# '.', '-', ',' and '&' do), so any four distinct ones make a valid interchange.
_DELIMITERS = ["*", "|", "^", "~", ":", ">", "!", "`", "{", "}", "\x1c", "\x1d", "\x1e", "\x1f", "\x07"]


@st.composite
def formats(draw: st.DrawFn) -> corpus.Format:
    element, component, repetition, segment = draw(
        st.lists(st.sampled_from(_DELIMITERS), min_size=4, max_size=4, unique=True))
    if draw(st.booleans()):
        segment = "~" if "~" not in (element, component, repetition) else segment
    newline = draw(st.sampled_from(["", "\n", "\r\n"]))
    if draw(st.integers(0, 9)) == 0:  # newline as the terminator itself
        segment, newline = "\n", ""
    if draw(st.integers(0, 9)) == 0:  # ISA11 = U: no repetition separator (the 00401 habit)
        repetition = "U"
    return corpus.Format(element=element, component=component, repetition=repetition, segment=segment,
                         newline=newline, bom=draw(st.integers(0, 4)) == 0)


@dataclasses.dataclass(frozen=True)
class Generated:
    data: bytes
    ids: tuple[str, ...]  # CLM01 in input order
    fmt: corpus.Format


@st.composite
def interchanges(draw: st.DrawFn, *, max_claims: int = 4, cgt_share: float = 0.3) -> Generated:
    """One file: 1-2 interchanges x 1-2 groups x 1-2 transactions x 1-max_claims claims."""
    fmt = draw(formats())
    seed = draw(st.integers(0, 2**20))
    dependents = draw(st.sampled_from([0.0, 0.5, 1.0]))
    duplicate_ids = draw(st.integers(0, 5)) == 0
    counter = 0
    ids: list[str] = []
    specs = []
    for i in range(draw(st.integers(1, 2))):
        groups = []
        for g in range(draw(st.integers(1, 2))):
            kind = draw(st.sampled_from("PI"))
            transactions = []
            for t in range(draw(st.integers(1, 2))):
                n = draw(st.integers(1, max_claims))
                claims = []
                for spec, _ in corpus.generate_claims(seed + counter, n, kind, dependent_share=dependents,
                                                      cgt_share=cgt_share):
                    counter += 1
                    claim_id = f"P{counter:04d}" if not (duplicate_ids and counter % 3 == 0) else "P0001"
                    claims.append(dataclasses.replace(spec, claim_id=claim_id))
                    ids.append(claim_id)
                transactions.append(corpus.TransactionSpec(tuple(claims), control_number=f"{t + 1:04d}"))
            groups.append(corpus.GroupSpec(kind, tuple(transactions), control_number=g + 1))
        specs.append(corpus.InterchangeSpec(tuple(groups), control_number=i + 1))
    try:
        data = corpus.build_file(specs, fmt)
    except ValueError:  # a delimiter occurs in the data after all
        assume(False)
    return Generated(data, tuple(ids), fmt)


_REJECT = Finding(rule_id="PROP-REJECT", severity=ERROR, message="rejected by the property test",
                  passage="test", ack=AckCode("A7", "21", extra_status="732"))


def rejecting(positions: frozenset[int]):
    """A decision function rejecting the claims at these input positions (1-based CLM order)."""
    def decide(claim: Claim) -> Decision:
        assert claim.location is not None
        rejected = claim.location.claim_index in positions
        return Decision(claim.claim_id, (_REJECT,) if rejected else ())
    decide.trigger_codes = None  # any claim may be rejected: every claim is read
    return decide


def well_formed(data: bytes) -> list[str]:
    """Envelope issues and walker notices found when re-reading `data` (should be none)."""
    found: list[str] = []
    env = Envelope()
    for seg in iter_segments([data]):
        found += [str(i) for i in env.feed(seg)]
    found += [str(i) for i in env.finish()]
    list(read_claims([data], on_event=lambda name, **f: found.append(f"{name}: {f.get('problem')}")))
    # A CLM01 used twice is the input's doing (the generator repeats ids on purpose), not the writer's.
    return [f for f in found if "is used again" not in f]


@PROPERTY_SETTINGS
@given(gen=interchanges(), data=st.data())
def test_filter_properties_with_injected_decisions(gen: Generated, data: st.DataObject) -> None:
    n = len(gen.ids)
    positions = data.draw(st.sets(st.integers(1, n)).map(frozenset), label="rejected positions")
    chunk = data.draw(st.sampled_from([1, 7, 100, 4096, 1 << 16]), label="chunk size")
    clean, ack, summary, events = filter_in_process(gen.data, rejecting(positions), chunk_size=chunk)

    assert summary["claims_in"] == n and summary["unevaluated"] == 0
    assert summary["rejected"] == len(positions) and summary["accepted"] == n - len(positions)
    check_conservation(gen.data, clean, ack, summary)  # includes byte identity when nothing is rejected
    if not positions:
        assert clean == gen.data and ack == b""

    kept = [cid for i, cid in enumerate(gen.ids, 1) if i not in positions]
    rejected = [cid for i, cid in enumerate(gen.ids, 1) if i in positions]
    assert [c.claim_id for c in read_claims([clean])] == kept if clean else not kept
    assert claim_ids(clean) == kept
    assert rejected_ids(ack) == rejected
    if clean:
        assert well_formed(clean) == [], "the clean 837 must have right counts and HL numbers"
    assert [f["claim_id"] for name, f in events if name == "claim_rejected"] == rejected


@PROPERTY_SETTINGS
@given(gen=interchanges(max_claims=3))
def test_everything_rejected_leaves_an_empty_clean_837(gen: Generated) -> None:
    positions = frozenset(range(1, len(gen.ids) + 1))
    clean, ack, summary, _ = filter_in_process(gen.data, rejecting(positions))
    assert clean == b"" or claim_ids(clean) == [], "an interchange whose claims were all rejected is dropped"
    assert rejected_ids(ack) == list(gen.ids)
    check_conservation(gen.data, clean, ack, summary)


@PROPERTY_SETTINGS
@given(gen=interchanges(max_claims=3), data=st.data())
def test_filtering_the_clean_837_again_changes_nothing(gen: Generated, data: st.DataObject) -> None:
    positions = data.draw(st.sets(st.integers(1, len(gen.ids))).map(frozenset))
    clean, _, _, _ = filter_in_process(gen.data, rejecting(positions))
    again, ack, summary, _ = filter_in_process(clean, rejecting(frozenset())) if clean else (b"", b"", {}, [])
    assert again == clean and ack == b""


@PROPERTY_SETTINGS
@given(gen=interchanges(max_claims=4, cgt_share=0.6))
def test_reading_only_policy_claims_agrees_with_reading_all_under_the_real_policy(gen: Generated) -> None:
    from fuzz.fuzz_filter import one_path

    some = filter_in_process(gen.data)
    every = filter_in_process(gen.data, read_all=True)
    one_path(gen.data, some, every)
    one_path(gen.data, some, filter_in_process(gen.data, hold_memory=64), same=True)
    check_conservation(gen.data, every[0], every[1], every[2])


@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(gen=interchanges(max_claims=4, cgt_share=0.7))
def test_real_policy_through_the_cli(tmp_path_factory: pytest.TempPathFactory, gen: Generated) -> None:
    work = tmp_path_factory.mktemp("cli")
    runs = [run_filter_forked(gen.data, work), run_filter_forked(gen.data, work, "--read-all")]
    for r in runs:
        assert check_outcome(gen.data, r) == "output"
        rejected = [e["claim_id"] for e in r.event("claim_rejected")]
        assert rejected_ids(r.ack or b"") == rejected
        assert len(claim_ids(r.clean or b"")) == len(gen.ids) - len(rejected)
    assert runs[0].clean == runs[1].clean and runs[0].returncode == runs[1].returncode


def test_generator_makes_valid_837_for_pyx12() -> None:
    # The generator's output is what the properties start from: check it once with pyx12.
    from support import pyx12_validate

    for kind in "PI":
        claims = [spec for spec, _ in corpus.generate_claims(3, 3, kind, dependent_share=0.5, cgt_share=0.5)]
        ok, report = pyx12_validate(corpus.build_837(claims))
        assert ok, report
