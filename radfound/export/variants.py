"""Precision variants of exported graphs, named like onnx-community: ``*_fp16.onnx`` and ``*_quantized.onnx``.

- fp16: weights and activations in float16 (for CUDA); the decoder's cache and
  ``inputs_embeds`` are float16 too (half the cache memory), the vision encoder keeps
  float32 inputs/outputs. Measured tolerance against fp32: docs/engine.md.
- int8: dynamic quantisation of MatMul weights (``onnxruntime.quantization``), for
  CPUs: a quarter of the weight bytes to read per token; inputs/outputs stay float32.
"""

from __future__ import annotations

from pathlib import Path

import onnx


def to_fp16(src: str | Path, dst: str | Path, *, keep_io_types: bool | None = None) -> Path:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    src, dst = Path(src), Path(dst)
    if keep_io_types is None:
        keep_io_types = "decoder" not in src.name
    model = onnx.load(str(src))
    half = convert_float_to_float16(model, keep_io_types=keep_io_types, disable_shape_infer=True)
    if not keep_io_types and "decoder" in src.name:
        _logits_to_float32(half)
    onnx.save_model(half, str(dst))
    return dst


def _logits_to_float32(model: onnx.ModelProto) -> None:
    """Cast the logits back to float32 inside the graph: samplers and argmax want full precision."""
    graph = model.graph
    out = next(o for o in graph.output if o.name == "logits")
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name == "logits":
                node.output[i] = "logits_fp16"
    graph.node.append(onnx.helper.make_node("Cast", ["logits_fp16"], ["logits"], to=onnx.TensorProto.FLOAT,
                                            name="logits_to_float32"))
    out.type.tensor_type.elem_type = onnx.TensorProto.FLOAT


def to_int8(src: str | Path, dst: str | Path) -> Path:
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # it logs a generic "consider pre-processing" warning
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                         extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.setLevel(level)
    return Path(dst)


def store_weights_fp16(path: str | Path, min_elements: int = 1024) -> Path:
    """Keep a graph's large float32 weights as float16 on disk, cast back to float32 when the session loads.

    Computation and inputs/outputs stay float32 (ONNX Runtime folds each Cast of a constant once, at load); only
    the file halves, which is what a model committed to git needs. Rounding to float16 changes a weight by at most
    one part in 2**11; what ships is measured after it (the evaluation runs the stored graph)."""
    import numpy as np
    from onnx import helper, numpy_helper

    path = Path(path)
    model = onnx.load(str(path))
    graph = model.graph
    casts, keep = [], []
    for init in graph.initializer:
        if init.data_type == onnx.TensorProto.FLOAT:
            array = numpy_helper.to_array(init)
            if array.size >= min_elements:
                half = numpy_helper.from_array(array.astype(np.float16), f"{init.name}.fp16")
                keep.append(half)
                casts.append(helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT,
                                              name=f"{init.name}/to_float32"))
                continue
        keep.append(init)
    del graph.initializer[:]
    graph.initializer.extend(keep)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save_model(model, str(path))
    return path
