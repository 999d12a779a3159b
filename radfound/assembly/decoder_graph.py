"""A hand-built, fused decoder graph around ONNX Runtime's ``GroupQueryAttention`` contrib op (torch-free:
numpy weights in, ONNX out; radfound.export.gqa_decoder feeds it a torch model's weights).

``torch.onnx`` traces attention as a dozen small ops per layer (reshape, transpose,
concat of the cache, expand for GQA, masks, softmax) and per-token decode on a CPU
is then dominated by op overhead, not by reading the weights. This builder writes
the same function directly, per layer:

    SkipSimplifiedLayerNormalization (the previous residual add and this norm, one op)
    -> MatMul (fused Q|K|V) -> GroupQueryAttention (packed QKV, rotary inside, cache concat
    inside) -> MatMul (o) -> SkipSimplifiedLayerNormalization -> MatMul (fused gate|up)
    -> Split -> x*Sigmoid(x)*up -> MatMul (down)

(the first layer's norm has no residual to add and is a plain SimplifiedLayerNormalization; the
last down projection is added inside the final norm). ORT does not fuse the residual adds into
the norms by itself when the sum also feeds the next residual; written fused, a decode step
launches two kernels fewer per layer, which counts on a GPU where each small kernel costs a few
microseconds (docs/benchmarks.md).

with the community I/O names (``inputs_embeds``, ``attention_mask``, ``position_ids``,
``past_key_values.{i}.key|value`` -> ``logits``, ``present.{i}.key|value``). The cache
grows by concatenation (``present`` = past + new), exactly like the traced graph, so
either file works with the same engine. Rotary positions are computed inside
GroupQueryAttention from the attention mask (position = index among the attended
tokens), which equals ``position_ids`` for unpadded prompts; ``position_ids`` is kept
as an input for layout compatibility. Parity with the PyTorch model is tested.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from radfound.engine.decoder_runner import IN_PLACE_METADATA

MS = "com.microsoft"
OPSET = 17
#: Graphs larger than this are saved with their weights in ``<graph>.onnx_data`` (protobuf's limit is 2 GB).
EXTERNAL_DATA_BYTES = 1_800_000_000


#: Block size of the int8 weight-only quantisation (MatMulNBits): one fp32 scale per 32 weights.
INT8_BLOCK = 32


def quantize_blockwise_int8(w: np.ndarray, block: int = INT8_BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """(K, N) fp32 weights -> MatMulNBits layout: uint8 (N, K/block, block) with zero point 128, scales (N*K/block,)."""
    k, n = w.shape
    blocks = -(-k // block)
    wt = np.zeros((n, blocks * block), np.float32)
    wt[:, :k] = w.T
    wt = wt.reshape(n, blocks, block)
    scales = np.abs(wt).max(axis=-1) / 127.0
    scales[scales == 0] = 1.0
    q = np.clip(np.rint(wt / scales[..., None]) + 128, 0, 255).astype(np.uint8)
    return q, scales.astype(np.float32).reshape(-1)


def quantize_blockwise_int4(w: np.ndarray, block: int = INT8_BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """(K, N) fp32 weights -> MatMulNBits 4-bit layout: uint8 (N, K/block, block/2), two values per byte (low nibble
    first), zero point 8, scales (N*K/block,)."""
    k, n = w.shape
    blocks = -(-k // block)
    wt = np.zeros((n, blocks * block), np.float32)
    wt[:, :k] = w.T
    wt = wt.reshape(n, blocks, block)
    scales = np.abs(wt).max(axis=-1) / 7.0
    scales[scales == 0] = 1.0
    q = np.clip(np.rint(wt / scales[..., None]) + 8, 0, 15).astype(np.uint8)
    packed = (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)
    return packed, scales.astype(np.float32).reshape(-1)


#: Weight formats of the decoder graph: plain float32 MatMul, or MatMulNBits blocks of 8 or 4 bits.
WEIGHT_FORMATS = ("fp32", "int8", "int4")


class _Graph:
    def __init__(self, weights: str = "fp32", accuracy_level: int = 4):
        if weights not in WEIGHT_FORMATS:
            raise ValueError(f"decoder weights must be one of {WEIGHT_FORMATS}, not {weights!r}")
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0
        self.weights = weights
        self.accuracy_level = accuracy_level  # MatMulNBits: 4 = int8 dot products (fast on CPU), 0 = float32

    def matmul(self, x: str, w: np.ndarray, name: str, outputs: list[str] | None = None) -> list[str]:
        """x @ w for (K, N) weights: a plain MatMul, or MatMulNBits (8- or 4-bit blocks) for weights int8 / int4."""
        if self.weights == "fp32":
            return self.node("MatMul", [x, self.init(name, w.astype(np.float32))], name=name, outputs=outputs)
        bits = 8 if self.weights == "int8" else 4
        q, scales = quantize_blockwise_int8(w) if bits == 8 else quantize_blockwise_int4(w)
        return self.node("MatMulNBits", [x, self.init(f"{name}.q", q), self.init(f"{name}.scales", scales)],
                         domain=MS, name=name, outputs=outputs, K=w.shape[0], N=w.shape[1], bits=bits,
                         block_size=INT8_BLOCK, accuracy_level=self.accuracy_level)

    def init(self, name: str, array: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], n_out: int = 1, domain: str = "", name: str | None = None,
             outputs: list[str] | None = None, **attrs) -> list[str]:
        self._n += 1
        base = name or f"{op}_{self._n}"
        outs = outputs or [f"{base}/out{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=base, domain=domain or None, **attrs))
        return outs


def write_gqa_decoder(cfg, weights: dict[str, np.ndarray], path: str | Path, weights_format: str = "fp32",
                      fuse_residual_norms: bool = True, accuracy_level: int = 4) -> Path:
    """Write ``decoder_model_merged.onnx`` at ``path`` from float32 ``weights`` named like the torch decoder's
    state dict (``layers.{i}.attn.q_proj.weight`` as (out, in), ``norm.weight``, ``lm_head.weight``); ``cfg`` has
    the TextConfig fields (hidden_size, num_heads, ...).

    ``weights_format="int8"`` stores every projection as 8-bit blocks (``MatMulNBits``, int8 dot products on
    CPU): a quarter of the bytes read per generated token; activations, norms and the cache stay fp32.
    ``fuse_residual_norms=False`` writes each residual add as its own ``Add`` (the A/B in docs/benchmarks.md).
    """
    h, kv, d = cfg.num_heads, cfg.num_kv_heads, cfg.hidden_size
    hd = d // h
    g = _Graph(weights_format, accuracy_level)

    def w(name: str) -> np.ndarray:
        return np.asarray(weights[name], dtype=np.float32)

    # rotary caches (max_positions, head_dim/2), the rotate-half ("non-interleaved") form
    inv_freq = 1.0 / (cfg.rope_theta ** (np.arange(0, hd, 2, dtype=np.float32) / hd))
    freqs = np.outer(np.arange(cfg.max_position_embeddings, dtype=np.float32), inv_freq).astype(np.float32)
    cos = g.init("rotary.cos_cache", np.cos(freqs).astype(np.float32))
    sin = g.init("rotary.sin_cache", np.sin(freqs).astype(np.float32))

    # sequence bookkeeping shared by all layers: seqlens_k = attended tokens - 1, total length
    one = g.init("const.one_i64", np.array([1], np.int64))
    axes1 = g.init("const.axes1", np.array([1], np.int64))
    (summed,) = g.node("ReduceSum", ["attention_mask", axes1], keepdims=0, name="mask_sum")
    (minus,) = g.node("Sub", [summed, one], name="seqlens_minus_one")
    (seqlens_k,) = g.node("Cast", [minus], to=TensorProto.INT32, name="seqlens_k")
    (shape,) = g.node("Shape", ["attention_mask"], name="mask_shape")
    (total64,) = g.node("Gather", [shape, g.init("const.idx1", np.array(1, np.int64))], axis=0, name="total_len_i64")
    (total,) = g.node("Cast", [total64], to=TensorProto.INT32, name="total_sequence_length")

    x, pending = "inputs_embeds", None  # pending: a branch output still to be added into the residual x

    def norm(init_name: str, weight: np.ndarray, name: str) -> str:
        """RMS-normalise the residual stream; with a pending branch output, add it in first (and move x on)."""
        nonlocal x, pending
        gamma = g.init(init_name, weight)
        if pending is not None and not fuse_residual_norms:
            (x,) = g.node("Add", [x, pending], name=f"{name}/residual")
            pending = None
        if pending is None:
            (out,) = g.node("SimplifiedLayerNormalization", [x, gamma], axis=-1, epsilon=cfg.rms_norm_eps, name=name)
            return out
        out, _, _, x = g.node("SkipSimplifiedLayerNormalization", [x, pending, gamma], domain=MS, name=name,
                              outputs=[f"{name}/out", "", "", f"{name}/residual_sum"], epsilon=cfg.rms_norm_eps)
        pending = None
        return out

    for i in range(cfg.num_layers):
        p = f"layers.{i}"
        normed = norm(f"{p}.input_norm", w(f"{p}.input_norm.weight"), f"{p}/input_norm")
        wqkv = np.concatenate([w(f"{p}.attn.q_proj.weight"), w(f"{p}.attn.k_proj.weight"),
                               w(f"{p}.attn.v_proj.weight")], axis=0).T
        (qkv,) = g.matmul(normed, wqkv, f"{p}.qkv_proj")
        attn_out, _, _ = g.node(
            "GroupQueryAttention",
            [qkv, "", "", f"past_key_values.{i}.key", f"past_key_values.{i}.value", seqlens_k, total, cos, sin],
            domain=MS, name=f"{p}/attn",
            outputs=[f"{p}/attn_out", f"present.{i}.key", f"present.{i}.value"],
            num_heads=h, kv_num_heads=kv, do_rotary=1, rotary_interleaved=0, scale=float(1.0 / np.sqrt(hd)),
        )
        (pending,) = g.matmul(attn_out, w(f"{p}.attn.o_proj.weight").T, f"{p}.o_proj")
        normed = norm(f"{p}.post_attention_norm", w(f"{p}.post_attention_norm.weight"), f"{p}/post_attention_norm")
        wgu = np.concatenate([w(f"{p}.mlp.gate_proj.weight"), w(f"{p}.mlp.up_proj.weight")], axis=0).T
        (gu,) = g.matmul(normed, wgu, f"{p}.gate_up_proj")
        gate, up = g.node("Split", [gu, g.init(f"{p}.split", np.array([cfg.intermediate_size] * 2, np.int64))],
                          n_out=2, axis=-1, name=f"{p}/split")
        (sig,) = g.node("Sigmoid", [gate], name=f"{p}/sigmoid")
        (silu,) = g.node("Mul", [gate, sig], name=f"{p}/silu")
        (act,) = g.node("Mul", [silu, up], name=f"{p}/swiglu")
        (pending,) = g.matmul(act, w(f"{p}.mlp.down_proj.weight").T, f"{p}.down_proj")
    normed = norm("norm", w("norm.weight"), "final_norm")
    g.matmul(normed, w("lm_head.weight").T, "lm_head", outputs=["logits"])

    f32, i64 = TensorProto.FLOAT, TensorProto.INT64
    cache = ["batch", kv, "past_sequence", hd]
    inputs = [
        helper.make_tensor_value_info("inputs_embeds", f32, ["batch", "sequence", d]),
        helper.make_tensor_value_info("attention_mask", i64, ["batch", "total_sequence"]),
        helper.make_tensor_value_info("position_ids", i64, ["batch", "sequence"]),
    ]
    outputs = [helper.make_tensor_value_info("logits", f32, ["batch", "sequence", cfg.vocab_size])]
    for i in range(cfg.num_layers):
        for kind in ("key", "value"):
            inputs.append(helper.make_tensor_value_info(f"past_key_values.{i}.{kind}", f32, cache))
            outputs.append(helper.make_tensor_value_info(f"present.{i}.{kind}", f32,
                                                         ["batch", kv, "total_sequence", hd]))
    graph = helper.make_graph(g.nodes, "radfound_decoder_gqa", inputs, outputs, initializer=g.inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(MS, 1)],
                              producer_name="radfound.export.gqa_decoder", ir_version=8)
    helper.set_model_props(proto, dict([IN_PLACE_METADATA]))  # present may alias past: the engine writes in place
    path = Path(path)
    big = sum(t.ByteSize() for t in g.inits) > EXTERNAL_DATA_BYTES
    onnx.save_model(proto, str(path), save_as_external_data=big, all_tensors_to_one_file=True,
                    location=path.name + "_data", size_threshold=1024)
    return path
