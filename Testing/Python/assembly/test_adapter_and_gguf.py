"""The torch-free pieces of model assembly: llama.cpp's q/k row order undone, LoRA merged reproducibly."""

from __future__ import annotations

import numpy as np
import pytest

from radfound.assembly.adapter import apply_adapter, merge_lora
from radfound.assembly.gguf_weights import unpermute
from radfound.errors import ModelError


def llama_cpp_permute(w: np.ndarray, heads: int) -> np.ndarray:
    """convert_hf_to_gguf.py's permute, as llama.cpp writes q/k rows."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


@pytest.mark.parametrize("heads", [1, 3, 9])
def test_unpermute_undoes_the_gguf_row_order(heads):
    w = np.random.default_rng(0).standard_normal((heads * 64, 40)).astype(np.float32)
    permuted = llama_cpp_permute(w, heads)
    assert not np.array_equal(permuted, w)
    assert np.array_equal(unpermute(permuted, heads), w)


def test_merge_lora_is_the_low_rank_update_and_bit_reproducible():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((48, 32)).astype(np.float32)
    a = rng.standard_normal((4, 32)).astype(np.float16)
    b = rng.standard_normal((48, 4)).astype(np.float16)
    merged = merge_lora(w, a, b, 2.0)
    assert merged.dtype == np.float32
    np.testing.assert_allclose(merged, w + 2.0 * b.astype(np.float32) @ a.astype(np.float32), atol=1e-4)
    assert merge_lora(w, a, b, 2.0).tobytes() == merged.tobytes()
    with pytest.raises(ValueError, match="do not fit"):
        merge_lora(w, a.T, b, 2.0)


def _weights():
    rng = np.random.default_rng(2)
    table = rng.standard_normal((10, 8)).astype(np.float32)
    return {"embed_tokens.weight": table, "lm_head.weight": table, "norm.weight": np.ones(8, np.float32),
            "layers.0.attn.q_proj.weight": rng.standard_normal((8, 8)).astype(np.float32)}


def test_apply_adapter_merges_replaces_norms_and_appends_token_rows(tmp_path):
    w = _weights()
    adapter = {"layers.0.attn.q_proj.lora_a": np.ones((2, 8), np.float16),
               "layers.0.attn.q_proj.lora_b": np.ones((8, 2), np.float16), "lora_scale": np.array(0.5, np.float32),
               "norm.weight": np.full(8, 3.0, np.float32), "embed_tokens.extra": np.zeros((3, 8), np.float32)}
    out = apply_adapter(w, adapter, tmp_path / "a.npz")
    np.testing.assert_allclose(out["layers.0.attn.q_proj.weight"], w["layers.0.attn.q_proj.weight"] + 1.0)
    assert (out["norm.weight"] == 3.0).all()
    assert out["embed_tokens.weight"].shape == (13, 8) and out["lm_head.weight"] is out["embed_tokens.weight"]


def test_an_adapter_for_another_decoder_is_refused_with_the_entry_named(tmp_path):
    adapter = {"layers.7.attn.q_proj.lora_a": np.ones((2, 8), np.float16),
               "layers.7.attn.q_proj.lora_b": np.ones((8, 2), np.float16), "lora_scale": np.array(1.0, np.float32)}
    with pytest.raises(ModelError, match="layers.7.attn.q_proj.lora_a"):
        apply_adapter(_weights(), adapter, tmp_path / "a.npz")
    with pytest.raises(ModelError, match="norm.weight"):
        apply_adapter(_weights(), {"norm.weight": np.ones(5, np.float32)}, tmp_path / "a.npz")
