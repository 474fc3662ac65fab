# Site settings files: what is accepted, and that every mistake is named with file and line.
from __future__ import annotations

import pytest

from edi_cgt.policy import SiteError, SiteSettings, load_policy, load_site, npi_is_valid, parse_site_text

GOOD = """
[payers]                     # 2010BB payer id (NM109) by Medi-Cal program
ffs = ["610442"]
mcp = ["PLAN01", "PLAN02"]
[facilities]
rems_certified = ["1234567893"]
qualified_treatment_centers = []
hemophilia_treatment_centers = []
[options]
critical_access_hospital_outpatient = true
[severity]
"CART-ADMIN-BUNDLED" = "error"
"""


def test_good_file(tmp_path):
    p = tmp_path / "site.toml"
    p.write_text(GOOD)
    site = load_site(p, policy=load_policy())
    assert site.ffs_payers == {"610442"} and site.mcp_payers == {"PLAN01", "PLAN02"}
    assert site.rems_certified == {"1234567893"} and site.qualified_treatment_centers == frozenset()
    assert site.hemophilia_treatment_centers == frozenset()
    assert site.critical_access_hospital_outpatient is True
    assert site.severity_for("CART-ADMIN-BUNDLED", "warning") == "error"
    assert site.source == str(p) and site.configured
    with pytest.raises(Exception):
        site.ffs_payers = frozenset()  # frozen


def test_absent_keys_stay_unconfigured():
    site = parse_site_text('[payers]\nffs = ["610442"]\n')
    assert site.mcp_payers is None and site.rems_certified is None
    assert SiteSettings().configured is False and SiteSettings().roster("rems_certified") is None


@pytest.mark.parametrize("npi,ok", [("1234567893", True), ("1234567890", False), ("123456789", False), ("12345678931", False), ("123456789X", False)])
def test_npi_luhn(npi, ok):
    assert npi_is_valid(npi) is ok


@pytest.mark.parametrize(
    "text,line,fragment",
    [
        ('[payers]\nffs = ["610442"]\nhmo = ["X"]\n', 3, "unknown key 'hmo'"),
        ('[payer]\nffs = ["610442"]\n', 1, "unknown table [payer]"),
        ('[payers]\nffs = "610442"\n', 2, "must be a list of strings"),
        ('[facilities]\n\nrems_certified = ["1234567890"]\n', 3, "'1234567890' is not a valid NPI"),
        ('[facilities]\nqualified_treatment_centers = [1234567893]\n', 2, "must be a list of strings"),
        ('[options]\ncritical_access_hospital_outpatient = "yes"\n', 2, "must be true or false"),
        ('[severity]\n"CGT-AUTH-FORMAT" = "fatal"\n', 2, '"error", "warning" or "off"'),
        ('[payers]\nffs = ["610442"]\nmcp = ["610442"]\n', 2, "both ffs and mcp"),
        ('[payers]\nffs = ["610442"\n', 2, "not valid TOML"),
        ('[payers]\nffs = ["610442"]\nmcp = [PLAN01]\n', 3, "not valid TOML"),
        ('[payers]\nffs = ["bad id!"]\n', 2, "not a payer id"),
    ],
)
def test_bad_site_files_name_file_line_and_problem(tmp_path, text, line, fragment):
    p = tmp_path / "site.toml"
    p.write_text(text)
    with pytest.raises(SiteError) as exc:
        load_site(p)
    (problem,) = exc.value.problems
    assert fragment in problem.message
    assert problem.line == line
    assert str(exc.value).startswith(f"{p}:{line}: ")


def test_severity_overrides_are_checked_against_the_policy():
    policy = load_policy()
    with pytest.raises(SiteError, match="no rule 'CGT-NOPE'"):
        parse_site_text('[severity]\n"CGT-NOPE" = "off"\n', policy=policy)
    with pytest.raises(SiteError, match="not configurable"):
        parse_site_text('[severity]\n"CGT-AUTH-REQUIRED" = "off"\n', policy=policy)


def test_oversized_file_is_refused(tmp_path):
    p = tmp_path / "site.toml"
    p.write_text("# " + "x" * (1024 * 1024) + "\n")
    with pytest.raises(SiteError, match="limited to"):
        load_site(p)


def test_missing_file(tmp_path):
    with pytest.raises(SiteError, match="cannot read site file"):
        load_site(tmp_path / "none.toml")
