"""A LLaMA-architecture GGUF file -> the decoder's configuration and float32 weights, with numpy only.

Names follow :class:`radfound.modeling.decoder.Decoder`'s state dict (``layers.{i}.attn.q_proj.weight``
as ``(out, in)`` matrices, like ``torch.nn.Linear``) plus ``embed_tokens.weight``, so the same arrays
initialise training (``radfound.modeling.base``) and feed the ONNX graph writer
(``radfound.assembly.decoder_graph``).

llama.cpp stores the query and key projections with their rows permuted for its interleaved rotary
form; :func:`unpermute` undoes it (the inverse of ``convert_hf_to_gguf.permute``), so the weights are
those of the rotate-half form the decoder uses. Dequantisation (Q4_1, Q8_0, ...) is ``gguf``'s own
and elementwise, hence bit-identical on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radfound.errors import ModelError

#: GGUF tensor name pattern -> decoder state-dict name.
_LAYER_TENSORS = {
    "attn_norm": "input_norm.weight",
    "attn_q": "attn.q_proj.weight",
    "attn_k": "attn.k_proj.weight",
    "attn_v": "attn.v_proj.weight",
    "attn_output": "attn.o_proj.weight",
    "ffn_norm": "post_attention_norm.weight",
    "ffn_gate": "mlp.gate_proj.weight",
    "ffn_up": "mlp.up_proj.weight",
    "ffn_down": "mlp.down_proj.weight",
}


@dataclass(frozen=True)
class GGUFDecoderConfig:
    """The decoder sizes a GGUF file declares (``llama.*`` keys)."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    rope_theta: float
    rms_norm_eps: float
    context_length: int

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


def unpermute(w: np.ndarray, heads: int) -> np.ndarray:
    """Rows of a q/k projection from llama.cpp's interleaved-rotary order back to the rotate-half order."""
    rows = w.shape[0]
    return w.reshape(heads, rows // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _reader(path: Path):
    try:
        from gguf import GGUFReader
    except ImportError:
        raise ModelError("reading the pretrained language model needs the 'gguf' package "
                         "(pip install gguf)", path) from None
    try:
        return GGUFReader(str(path))
    except Exception as exc:  # gguf raises ValueError/struct errors for a damaged file
        raise ModelError(f"not a readable GGUF file ({type(exc).__name__}: {exc})", path) from None


def _field(reader, key: str, path: Path):
    f = reader.fields.get(key)
    if f is None:
        raise ModelError(f"GGUF file lacks {key}", path)
    return f.contents()


def read_config(reader, path: Path) -> GGUFDecoderConfig:
    arch = _field(reader, "general.architecture", path)
    if arch != "llama":
        raise ModelError(f"GGUF architecture is {arch!r}; RadFound assembles LLaMA-architecture decoders", path)
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    vocab = reader.fields.get("llama.vocab_size")
    return GGUFDecoderConfig(
        vocab_size=int(vocab.contents() if vocab is not None else len(tokens.data)),
        hidden_size=int(_field(reader, "llama.embedding_length", path)),
        num_layers=int(_field(reader, "llama.block_count", path)),
        num_heads=int(_field(reader, "llama.attention.head_count", path)),
        num_kv_heads=int(_field(reader, "llama.attention.head_count_kv", path)),
        intermediate_size=int(_field(reader, "llama.feed_forward_length", path)),
        rope_theta=float(_field(reader, "llama.rope.freq_base", path)),
        rms_norm_eps=float(_field(reader, "llama.attention.layer_norm_rms_epsilon", path)),
        context_length=int(_field(reader, "llama.context_length", path)),
    )


def read_decoder(path: str | Path) -> tuple[GGUFDecoderConfig, dict[str, np.ndarray]]:
    """(config, float32 weights by decoder state-dict name) of a LLaMA GGUF file.

    ``lm_head.weight`` is the file's ``output.weight`` when it has one, else the token embeddings (tied)."""
    from gguf.quants import dequantize

    path = Path(path)
    reader = _reader(path)
    cfg = read_config(reader, path)
    out: dict[str, np.ndarray] = {}
    for t in reader.tensors:
        w = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32)
        parts = t.name.split(".")
        if t.name == "token_embd.weight":
            out["embed_tokens.weight"] = w
        elif t.name == "output.weight":
            out["lm_head.weight"] = w
        elif t.name == "output_norm.weight":
            out["norm.weight"] = w
        elif parts[0] == "blk" and len(parts) == 4 and parts[2] in _LAYER_TENSORS:
            if parts[2] == "attn_q":
                w = unpermute(w, cfg.num_heads)
            elif parts[2] == "attn_k":
                w = unpermute(w, cfg.num_kv_heads)
            out[f"layers.{parts[1]}.{_LAYER_TENSORS[parts[2]]}"] = np.ascontiguousarray(w)
    out.setdefault("lm_head.weight", out.get("embed_tokens.weight"))
    missing = [f"layers.{i}.{n}" for i in range(cfg.num_layers) for n in _LAYER_TENSORS.values()
               if f"layers.{i}.{n}" not in out]
    missing += [n for n in ("embed_tokens.weight", "norm.weight") if out.get(n) is None]
    if missing:
        raise ModelError(f"GGUF file lacks {len(missing)} decoder tensors (first: {missing[0]})", path)
    return cfg, out
