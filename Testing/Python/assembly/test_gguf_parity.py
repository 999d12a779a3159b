"""RadFound's reading of the SmolLM2 GGUF computes what transformers' own GGUF loader computes."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

pytestmark = pytest.mark.slow


def test_the_decoder_read_from_gguf_matches_transformers(smollm2_gguf):
    from transformers import AutoModelForCausalLM

    from radfound.assembly.gguf_weights import read_decoder
    from radfound.modeling.configs import TextConfig
    from radfound.modeling.decoder import Decoder

    cfg, weights = read_decoder(smollm2_gguf)
    assert (cfg.num_layers, cfg.hidden_size, cfg.num_heads, cfg.num_kv_heads) == (30, 576, 9, 3)
    text = TextConfig(vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, num_layers=cfg.num_layers,
                      num_heads=cfg.num_heads, num_kv_heads=cfg.num_kv_heads, intermediate_size=cfg.intermediate_size,
                      rope_theta=cfg.rope_theta, rms_norm_eps=cfg.rms_norm_eps, max_position_embeddings=256)
    mine = Decoder(text).eval()
    mine.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items() if k != "embed_tokens.weight"})
    hf = AutoModelForCausalLM.from_pretrained(str(smollm2_gguf.parent), gguf_file=smollm2_gguf.name,
                                              dtype=torch.float32).eval()
    ids = torch.tensor([[1, 4093, 198, 1780, 314, 253, 23845, 50, 2, 198, 1, 520, 9531, 198]])
    with torch.no_grad():
        ref = hf(ids).logits
        embeds = torch.from_numpy(weights["embed_tokens.weight"])[ids]
        got, _ = mine(embeds, torch.ones_like(ids), torch.arange(ids.shape[1])[None], mine.empty_cache())
    assert (got - ref).abs().max().item() < 1e-3 * ref.abs().max().item()
    assert torch.equal(got.argmax(-1), ref.argmax(-1))
