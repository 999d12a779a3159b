"""radfound-base assembled once per session (the pinned GGUF fixture is in Testing/Python/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def built_base(tmp_path_factory, smollm2_gguf) -> Path:
    """radfound-base assembled once per session from the committed kit into a private store."""
    from radfound.assembly.build import build_model, kit_dir

    if not (kit_dir("radfound-base") / "manifest.json").is_file():
        pytest.skip("this checkout has no radfound-base kit")
    return build_model("radfound-base", store=tmp_path_factory.mktemp("store"), search=smollm2_gguf.parent)
