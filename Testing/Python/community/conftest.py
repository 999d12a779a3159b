"""Tiny Gemma 3 and Idefics3 models exported once per session into the community layout."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

pytest.importorskip("transformers", reason="transformers (test-only dependency) builds the tiny community models")

from community_factories import GEMMA3_SEED, tiny_gemma3, tiny_idefics3  # noqa: E402

from radfound.export.families import export_community  # noqa: E402

@pytest.fixture(scope="session")
def gemma3(tmp_path_factory):
    """(transformers model, image processor, exported folder)."""
    model, tok, proc = tiny_gemma3(GEMMA3_SEED)
    folder = export_community(model, tok, tmp_path_factory.mktemp("community") / "tiny-gemma3", image_processor=proc,
                              name="tiny-gemma3")
    return model, proc, folder


@pytest.fixture(scope="session")
def gemma3_causal(tmp_path_factory):
    """The same Gemma 3 weights exported without bidirectional image attention (like published decoders)."""
    model, tok, proc = tiny_gemma3(GEMMA3_SEED)
    folder = export_community(model, tok, tmp_path_factory.mktemp("community") / "tiny-gemma3-causal",
                              image_processor=proc, name="tiny-gemma3-causal", image_attention="causal")
    return model, proc, folder


@pytest.fixture(scope="session")
def idefics3(tmp_path_factory):
    model, tok, proc = tiny_idefics3()
    folder = export_community(model, tok, tmp_path_factory.mktemp("community") / "tiny-idefics3",
                              image_processor=proc, name="tiny-idefics3")
    return model, proc, folder


@pytest.fixture(scope="session")
def smolvlm(tmp_path_factory):
    """SmolVLM2's own classes (model_type "smolvlm"), run by the Idefics3 family adapter."""
    model, tok, proc = tiny_idefics3(smolvlm=True)
    folder = export_community(model, tok, tmp_path_factory.mktemp("community") / "tiny-smolvlm",
                              image_processor=proc, name="tiny-smolvlm")
    return model, proc, folder


@pytest.fixture(scope="session")
def images():
    """Two 8-bit RGB pictures of different shapes (landscape, portrait) with real structure."""
    rng = np.random.default_rng(0)
    landscape = rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:90, 0:40]
    portrait = np.stack([(xx * 6) % 256, (yy * 3) % 256, ((xx + yy) * 2) % 256], axis=-1).astype(np.uint8)
    return [landscape, portrait]
