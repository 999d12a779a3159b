"""Resources/models.json is well formed and agrees with the shipped default model's manifest."""

from __future__ import annotations

import pytest

from radfound.config import fallback_model_dir as default_model_dir
from radfound.registry.index import INDEX_PATH, index_entry, read_index, refresh_index

REQUIRED = {"name", "family", "version", "licence", "source", "path", "size", "files"}


def test_index_lists_the_default_model_with_required_fields():
    entries = {e["name"]: e for e in read_index(INDEX_PATH)}
    assert default_model_dir().name in entries
    for entry in entries.values():
        assert REQUIRED <= set(entry), entry["name"]
        assert entry["size"] == sum(f["size"] for f in entry["files"].values())
        assert all(len(f["sha256"]) == 64 for f in entry["files"].values())


def test_index_agrees_with_shipped_manifest():
    folder = default_model_dir()
    if not (folder / "manifest.json").is_file():
        pytest.skip(f"shipped model not built yet at {folder}")
    [entry] = [e for e in read_index(INDEX_PATH) if e["name"] == folder.name]
    assert entry == index_entry(folder), "run `radfound models refresh-index` and commit Resources/models.json"


def test_refresh_index_round_trip(model_folder, tmp_path):
    import shutil

    resources = tmp_path / "Resources"
    shutil.copytree(model_folder, resources / "models" / "tiny-test")
    index = resources / "models.json"
    index.write_text('{"models": [{"name": "kept", "family": "gemma3", "files": {}}]}')
    entries = refresh_index(index, resources / "models", resources)
    assert [e["name"] for e in entries] == ["kept", "tiny-test"]  # absent folders keep their entry
    assert read_index(index) == entries
    assert entries[1]["licence"] == "Apache-2.0" and entries[1]["source"] == "test fixture"
