"""load_model takes a folder, an installed model's name or nothing, and hands community folders to their family."""

from __future__ import annotations

from pathlib import Path

import pytest

from radfound.engine import RadFoundModel, load_model
from radfound.errors import ModelError


def test_installed_model_is_found_by_name(tiny_model_dir, tmp_path, monkeypatch):
    from radfound.registry.store import import_model

    monkeypatch.setenv("RADFOUND_MODELS", str(tmp_path / "store"))
    import_model(tiny_model_dir)
    model = load_model("radfound-tiny", device="cpu")
    assert isinstance(model, RadFoundModel) and model.model_dir.parent == tmp_path / "store"
    with pytest.raises(ModelError, match="no model called 'radfound-nope'"):
        load_model("radfound-nope")


def test_community_folder_runs_through_the_same_entry_point(tmp_path, pydicom_data, monkeypatch):
    pytest.importorskip("transformers", reason="transformers builds the tiny community model")
    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "community"))
    from community_factories import GEMMA3_SEED, tiny_gemma3

    from radfound.export.families import export_community
    from radfound.study.reader import read_study
    from radfound.tasks.vqa import answer_question

    model, tok, proc = tiny_gemma3(GEMMA3_SEED)
    folder = export_community(model, tok, tmp_path / "tiny-gemma3", image_processor=proc, name="tiny-gemma3")
    engine = load_model(folder, device="cpu")
    assert type(engine).__name__ == "CommunityVLModel" and engine.provider == "CPUExecutionProvider"
    answer = answer_question(engine, read_study(pydicom_data("RG1_UNCR.dcm")), "Is there an effusion?",
                             max_new_tokens=4)
    assert answer.model == "tiny-gemma3" and answer.timings.new_tokens >= 1
