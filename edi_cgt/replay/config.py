# What a replay worker needs besides its input: the settings, and what is built from them once
# per process (the policy, the therapy codes, the fingerprint that says whether a done record
# is still valid).
#
# Strategy: ReplayConfig is small, frozen and picklable, so the local engine's workers and
# Spark's executors get it as it is. The policy and site files are read where the config is
# made (the driver) and travel inside it: an executor needs no shared mount, and every worker
# decides with the very bytes the fingerprint was computed from.
from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import __version__, store
from ..claims.model import Claim
from ..decider import DeciderConfig, make_decider
from ..policy.findings import Decision

__all__ = ["ReplayConfig", "RECORD_VERSION", "DEFAULT_SPLIT_BYTES", "fingerprint", "decider_for", "therapy_codes",
           "Decide", "drug_codes", "policy_codes"]

RECORD_VERSION = 3  # 2: rejection reason/passage/fix, warnings, by_provider; 3: skipped, store stamps
DEFAULT_SPLIT_BYTES = 256 << 20

Decide = Callable[[Claim], Decision]


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    """Everything a worker needs besides the input path (small and picklable).

    `out_dir` is a local directory or a URL (s3://bucket/prefix). `redact_acks` puts REDACTED
    for the patient in the 277CAs (by default they name the patient, as `filter`'s do);
    `log_phi` lets error reasons quote segment text. `split_bytes`: an uncompressed input larger
    than this is replayed in pieces cut at transaction boundaries (0: never). `sniff`: read only
    inputs that start like an 837 (see edi_cgt.replay.inputs.sniff). `now` fixes the 277CAs'
    dates (None: the time each 277CA is written).
    """

    out_dir: str
    decider: DeciderConfig = DeciderConfig()
    ack_all: bool = False
    redact_acks: bool = False
    log_phi: bool = False
    # Codes that make a claim a cell/gene therapy claim (per-therapy counters). None: the
    # policy's trigger codes when the policy package is available, else the codes findings name.
    therapy_codes: frozenset[str] | None = None
    split_bytes: int = DEFAULT_SPLIT_BYTES
    sniff: bool = True
    now: dt.datetime | None = None
    # The contents of the policy and site files, read where the config is made.
    policy_data: bytes | None = field(default=None, repr=False)
    site_data: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        out = self.out_dir if store.is_url(self.out_dir) else os.path.abspath(store.local(self.out_dir))
        object.__setattr__(self, "out_dir", out.rstrip("/") if store.is_url(out) else out)
        d = self.decider
        if d.policy_path and self.policy_data is None:
            object.__setattr__(self, "policy_data", Path(d.policy_path).read_bytes())
        if d.site_path and self.site_data is None:
            object.__setattr__(self, "site_data", Path(d.site_path).read_bytes())

    def with_out(self, out_dir: str) -> "ReplayConfig":
        return replace(self, out_dir=out_dir)


# -- fingerprint ---------------------------------------------------------------------------
_FINGERPRINTS: dict[tuple[ReplayConfig, str], str] = {}


def fingerprint(config: ReplayConfig, decide: Decide | None = None) -> str:
    """Hash of what decides a file's result besides the file itself (for resuming)."""
    label = "" if decide is None else f"{getattr(decide, '__module__', '')}.{getattr(decide, '__qualname__', repr(decide))}"
    cached = _FINGERPRINTS.get((config, label))
    if cached is not None:
        return cached
    h = hashlib.sha256()
    d = config.decider

    def add(*parts: object) -> None:
        for part in parts:
            h.update(part if isinstance(part, bytes) else str(part).encode())
            h.update(b"\0")

    add(RECORD_VERSION, __version__, config.ack_all, config.redact_acks, config.log_phi, config.sniff,
        d.as_of, label)
    add(sorted(config.therapy_codes) if config.therapy_codes is not None else None)
    # The built-in policy data always counts: a policy file may be a revision on top of it.
    data = Path(__file__).resolve().parent.parent / "policy" / "data"
    for item in sorted(data.glob("*")) if data.is_dir() else ():
        add(item.name, hashlib.sha256(item.read_bytes()).hexdigest())
    for blob in (config.policy_data, config.site_data):
        add(hashlib.sha256(blob).hexdigest() if blob is not None else None)
    value = h.hexdigest()[:16]
    _FINGERPRINTS[(config, label)] = value
    return value


# -- per-process caches (workers and Spark executors build the policy once) ----------------
_DECIDERS: dict[tuple[DeciderConfig, bytes | None, bytes | None], Decide] = {}
_POLICY_CODES: dict[bytes | None, tuple[frozenset[str], frozenset[str]] | None] = {}
_MATERIALIZED: dict[bytes, str] = {}


def _materialize(name: str, data: bytes) -> str:
    """A local file holding `data` (the policy or site file as the driver read it)."""
    path = _MATERIALIZED.get(data)
    if path is None:
        directory = tempfile.mkdtemp(prefix="edi-cgt-replay-")
        path = os.path.join(directory, os.path.basename(name) or "settings")
        with open(path, "wb") as fh:
            fh.write(data)
        _MATERIALIZED[data] = path
    return path


def _local_decider(config: ReplayConfig) -> DeciderConfig:
    d = config.decider
    policy = _materialize(d.policy_path, config.policy_data) if d.policy_path and config.policy_data is not None \
        else d.policy_path
    site = _materialize(d.site_path, config.site_data) if d.site_path and config.site_data is not None \
        else d.site_path
    return DeciderConfig(policy, site, d.as_of)


def decider_for(config: ReplayConfig) -> Decide:
    key = (config.decider, config.policy_data, config.site_data)
    fn = _DECIDERS.get(key)
    if fn is None:
        fn = _DECIDERS[key] = make_decider(_local_decider(config))
    return fn


def therapy_codes(config: ReplayConfig, decide: Decide) -> frozenset[str] | None:
    """Codes named in rejections.csv's hcpcs column: config.therapy_codes, else the decider's
    trigger codes, else the policy's; None when no policy loads (the codes findings name)."""
    if config.therapy_codes is not None:
        return config.therapy_codes
    codes = getattr(decide, "trigger_codes", None)
    if codes is not None:
        return codes
    found = policy_codes(config)
    return found[0] if found else None


def drug_codes(config: ReplayConfig) -> frozenset[str] | None:
    """The policy's therapy (drug) codes in every revision: a rejected claim counts once under
    each in by_therapy; None when no policy loads."""
    found = policy_codes(config)
    return found[1] if found else None


def policy_codes(config: ReplayConfig) -> tuple[frozenset[str], frozenset[str]] | None:
    """(trigger codes, therapy drug codes) of the run's policy in every revision; None when no
    policy loads (then the codes findings name stand in)."""
    key = config.policy_data
    if key not in _POLICY_CODES:
        from ..policy import PolicyError, load_policy, trigger_codes

        try:
            policy = load_policy(_local_decider(config).policy_path)
        except PolicyError:  # no usable policy (it names every problem): fall back to the codes findings name
            _POLICY_CODES[key] = None
        else:
            drugs: frozenset[str] = frozenset().union(*(v.therapies for v in policy.views()))
            _POLICY_CODES[key] = (frozenset(trigger_codes(policy)), drugs)
    return _POLICY_CODES[key]
