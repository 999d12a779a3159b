"""radfound-base as a user meets it: real radiographs in, drafts that depend on the image out."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base(built_base):
    from radfound.engine import load_model

    return load_model(built_base, device="cpu")


def test_drafts_have_findings_and_impression_and_differ_between_chest_xrays(base, shared_data):
    from radfound.study.reader import read_study
    from radfound.tasks.report import draft_report

    images = ["xmlab121", "xmlab139", "xmlab164", "xmlab170"]  # SLAKE validation chest X-rays: never trained on
    drafts = [draft_report(base, read_study(shared_data / "slake" / "imgs" / name / "source.jpg")) for name in images]
    for d in drafts:
        assert d.findings and d.impression and d.model == "radfound-base"
    assert len({d.findings + d.impression for d in drafts}) >= 3  # a model blind to the image writes one draft


def test_answers_a_closed_question_with_option_probabilities(base, shared_data):
    from radfound.study.reader import read_study
    from radfound.tasks.vqa import answer_question

    study = read_study(shared_data / "slake" / "imgs" / "xmlab121" / "source.jpg")
    answer = answer_question(base, study, "Is this a study of the chest?")
    assert answer.answer == "Yes"
    assert sum(answer.options.values()) == pytest.approx(1.0, abs=1e-3)


def test_the_sample_radiograph_gets_a_chest_report_from_the_cli(built_base, tmp_path):
    import json
    import os
    import subprocess
    import sys

    from radfound.config import RESOURCES_DIR

    env = {**os.environ, "RADFOUND_MODELS": str(built_base.parent)}
    out = subprocess.run([sys.executable, "-m", "radfound.cli.main", "report",
                          str(RESOURCES_DIR / "Samples" / "chest_xray_pa.jpg"), "--json"],
                         capture_output=True, text=True, env=env, check=True)
    result = json.loads(out.stdout)
    assert result["model"] == "radfound-base"  # the default once it is built
    assert "PRELIMINARY" in result["notice"]
    assert "chest" in result["findings"].lower()
