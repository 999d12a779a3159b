"""Compare with prior: per-finding change from two drafts, on hand-made drafts and on real model drafts of
phantom pairs whose change we control (the same breasts before the findings appeared)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from radfound.tasks.compare import NO_PRIOR, compare_drafts, comparison_text
from radfound.tasks.results import Box, Draft


def draft(findings: str, boxes=()) -> Draft:
    return Draft(findings=findings, impression="", model="m", provider="cpu", boxes=list(boxes))


def statuses(changes):
    return {(c.finding, c.location): c.status for c in changes}


def test_new_resolved_unchanged_and_negations_on_chest_drafts():
    prior = draft("There is a pleural effusion on the right. No pneumothorax. Cardiomegaly.")
    current = draft("Cardiomegaly. There is a nodule in the left lung. No pleural effusion.")
    assert statuses(compare_drafts(current, prior, "cxr")) == {
        ("cardiomegaly", ""): "unchanged", ("nodule", "left"): "new", ("pleural effusion", "right"): "resolved"}


def test_boxes_of_a_finding_in_both_studies_say_larger_or_smaller():
    prior = draft("Left breast: mass in the upper outer quadrant.", [Box("mass", 10, 10, 20, 20)])
    grown = draft("Left breast: mass in the upper outer quadrant.", [Box("mass", 10, 10, 25, 25)])
    same = draft("Left breast: mass in the upper outer quadrant.", [Box("mass", 11, 11, 21, 21)])
    key = ("mass", "left upper outer")
    assert statuses(compare_drafts(grown, prior, "mammo")) == {key: "larger"}
    assert statuses(compare_drafts(prior, grown, "mammo")) == {key: "smaller"}
    assert statuses(compare_drafts(same, prior, "mammo")) == {key: "unchanged"}


def test_the_comparison_section_names_the_prior_or_says_there_is_none():
    changes = compare_drafts(draft("Cardiomegaly."), draft("Cardiomegaly."), "cxr")
    assert comparison_text("chest radiograph prior.dcm", changes) == \
        "Prior: chest radiograph prior.dcm.\nCardiomegaly: unchanged."
    assert comparison_text("x", []) == "Prior: x.\nNo finding in either study."
    assert comparison_text(None, []) == NO_PRIOR == "No prior available."


@pytest.fixture(scope="module")
def small():
    from radfound.engine import load_model

    return load_model(None, device="cpu")


@pytest.mark.parametrize("seed", [900007, 900010, 900024, 900012])
def test_findings_that_appeared_are_new_and_findings_that_went_are_resolved(small, seed):
    from radfound.tasks.report import draft_report
    from radfound.training.phantoms.mammo import make_mammo_set

    with_findings, before = make_mammo_set(seed), make_mammo_set(seed, lesion_scale=0.0)
    assert with_findings.findings and not before.findings  # the change we made: every finding added
    truth = {(f.finding, f"{f.side} {f.where}") for f in with_findings.findings}
    now, then = draft_report(small, with_findings.study), draft_report(small, before.study)
    assert statuses(compare_drafts(now, then, "mammo")) == {k: "new" for k in truth}
    assert statuses(compare_drafts(then, now, "mammo")) == {k: "resolved" for k in truth}
    assert set(statuses(compare_drafts(now, now, "mammo")).values()) <= {"unchanged"}


def test_the_cli_compares_a_real_radiograph_with_itself_as_unchanged(shared_data, pydicom_data, tmp_path):
    image = str(shared_data / "slake" / "imgs" / "xmlab121" / "source.jpg")
    run = lambda *a: subprocess.run([sys.executable, "-m", "radfound.cli.main", "report", *a],  # noqa: E731
                                    capture_output=True, text=True)
    out = run(image, "--prior", image, "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["report"].startswith("COMPARISON:\nPrior: study source.jpg.")
    assert result["changes"] and {c["status"] for c in result["changes"]} == {"unchanged"}
    text = run(image, "--prior", image)
    assert "PRELIMINARY" in text.stdout and "\nCOMPARISON:\n" in text.stdout
    for args, says in (((str(pydicom_data("RG1_UNCI.dcm")), "--prior", image), "compare studies of the same kind"),
                       ((image, "--prior", image, "--sr", str(tmp_path / "x.dcm")), "needs DICOM source images")):
        r = run(*args)
        assert r.returncode != 0 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "x.dcm").exists()


def test_the_sr_of_a_comparison_carries_it_and_references_both_studies(tmp_path):
    import pydicom

    from outputs.validators import unexpected_warnings, validate_sr
    from pacs.pacs_helpers import chest_studies

    ((current,),), ((prior,),) = chest_studies(tmp_path / "cur", 1), chest_studies(tmp_path / "pri", 1, start=1)
    sr_path = tmp_path / "draft.sr.dcm"
    r = subprocess.run([sys.executable, "-m", "radfound.cli.main", "report", str(current), "--prior", str(prior),
                        "--sr", str(sr_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert unexpected_warnings(validate_sr(sr_path)) == []  # dciodvfy and dsrdump
    sr = pydicom.dcmread(sr_path)
    current_uid = pydicom.dcmread(current, stop_before_pixels=True).StudyInstanceUID
    prior_uid = pydicom.dcmread(prior, stop_before_pixels=True).StudyInstanceUID
    assert sr.StudyInstanceUID == current_uid != prior_uid
    assert [e.StudyInstanceUID for e in sr.CurrentRequestedProcedureEvidenceSequence] == [current_uid]
    assert [e.StudyInstanceUID for e in sr.PertinentOtherEvidenceSequence] == [prior_uid]
    sections = {item.ConceptNameCodeSequence[0].CodeValue: item for item in sr.ContentSequence
                if item.ValueType == "CONTAINER"}
    comparison = [t.TextValue for t in sections["18834-2"].ContentSequence if t.ValueType == "TEXT"]
    assert comparison[0].startswith("PRELIMINARY") and comparison[1] == "Prior: chest radiograph " + prior.name + "."
    assert all(line.endswith(": unchanged.") for line in comparison[2:])  # the same image, a new study
