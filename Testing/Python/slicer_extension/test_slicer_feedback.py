"""The human-evaluation log: generated vs edited text, edit distance, rating, summary; no identifiers."""

from __future__ import annotations

import json

import pytest

from radfound import feedback
from radfound.errors import ConfigError


def test_edit_distance_counts_word_edits():
    a = feedback.tokens("No pleural effusion. Heart size normal.")
    b = feedback.tokens("Small left pleural effusion. Heart size normal.")
    assert feedback.edit_distance(a, b) == 2  # "no" -> "small" (substitution) + "left" (insertion)
    assert feedback.edit_distance(a, a) == 0
    assert feedback.edit_distance([], b) == len(b)


def test_record_and_summarize(feedback_log):
    generated = "FINDINGS:\nNo effusion.\n\nIMPRESSION:\nNormal chest."
    feedback.record(generated, generated, model="radfound-small", kind="cxr", rating=5)
    feedback.record(generated, generated.replace("No effusion", "Small right effusion"), model="radfound-small", kind="cxr")
    feedback.record("Is there a mass? Yes", "Is there a mass? No", model="other", task="vqa", rating=2)
    feedback.record(generated, generated, model="radfound-small", model_version="0.4.0", kind="cxr")
    lines = feedback_log.read_text().splitlines()
    assert len(lines) == 4
    first = json.loads(lines[0])
    assert set(first) == {"timestamp", "task", "kind", "model", "model_version", "generated", "edited",
                          "edit_distance", "normalized_edit_distance", "rating"}
    summary = feedback.summarize(feedback_log)
    assert summary["drafts"] == 4
    assert summary["unedited_fraction"] == pytest.approx(2 / 4, abs=1e-3)
    assert summary["mean_rating"] == 3.5 and summary["ratings"] == {"2": 1, "5": 1}
    # Versions of one model are kept apart: a retrained model's edits are not its predecessor's.
    assert set(summary["by_model"]) == {"radfound-small / report", "other / vqa", "radfound-small 0.4.0 / report"}
    assert summary["by_model"]["radfound-small / report"]["drafts"] == 2


def test_default_location_is_per_user(monkeypatch):
    monkeypatch.delenv("RADFOUND_FEEDBACK_LOG", raising=False)
    assert feedback.log_path().name == "feedback.jsonl" and "RadFound" in str(feedback.log_path())


def test_bad_rating_and_corrupt_log_are_typed_errors(feedback_log):
    with pytest.raises(ConfigError, match="rating"):
        feedback.record("a", "b", model="m", rating=9)
    assert not feedback_log.exists()  # nothing half-written
    feedback_log.write_text('{"edit_distance": 0, "normalized_edit_distance": 0}\nnot json\n')
    with pytest.raises(ConfigError, match="line 2"):
        feedback.summarize(feedback_log)


@pytest.mark.parametrize("content, problem", [
    (b"\xff\xfe{\x00", "not UTF-8 text"),
    (b"[1]\n", "line 1 is not a feedback entry"),
    (b'{"edit_distance": 2}\n', "line 1: 'normalized_edit_distance' must be a number"),
    (b'{"edit_distance": 2, "normalized_edit_distance": 0.5, "rating": "5"}\n', "line 1: 'rating' must be 1-5"),
])
def test_a_log_that_is_not_radfounds_is_one_line_naming_it(tmp_path, capsys, content, problem):
    """A foreign or hand-edited log gave an internal UnicodeDecodeError, AttributeError or KeyError."""
    from radfound.cli.main import main

    log = tmp_path / "feedback.jsonl"
    log.write_bytes(content)
    assert main(["eval", "feedback", "--log", str(log)]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err and len(err.strip().splitlines()) == 1
    assert str(log) in err and problem in err


def test_missing_log_summarizes_to_zero(tmp_path):
    assert feedback.summarize(tmp_path / "none.jsonl") == {"drafts": 0, "by_model": {}}
