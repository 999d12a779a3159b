"""Where the three graphs of a community model are and what their inputs and outputs are called.

Defaults follow the onnx-community (transformers.js) layout. An onnxruntime-genai
``genai_config.json`` beside the model overrides file names and tensor names: its
``model.vision``, ``model.embedding`` and ``model.decoder`` sections, with cache names
given as ``%d`` patterns (``past_key_values.%d.key``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from radfound.errors import ModelError

#: Precision variants in the order they are preferred when no dtype is asked for.
VARIANT_SUFFIXES = ("", "_fp16", "_q4f16", "_quantized", "_q4", "_int8", "_uint8", "_bnb4")


@dataclass
class GraphNames:
    file: Path | None
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

    def input(self, key: str) -> str:
        return self.inputs.get(key, key)

    def output(self, key: str) -> str:
        return self.outputs.get(key, key)


@dataclass
class ModelNames:
    vision: GraphNames
    embedding: GraphNames
    decoder: GraphNames
    past_key: str = "past_key_values.%d.key"
    past_value: str = "past_key_values.%d.value"
    present_key: str = "present.%d.key"
    present_value: str = "present.%d.value"
    genai: dict = field(default_factory=dict)


def find_graph(model_dir: Path, stem: str, dtype: str | None = None) -> Path:
    """``onnx/<stem><suffix>.onnx``: the asked-for variant, else the first present in VARIANT_SUFFIXES."""
    onnx_dir = model_dir / "onnx"
    suffixes = (f"_{dtype}" if dtype and dtype != "fp32" else "",) if dtype else VARIANT_SUFFIXES
    for suffix in suffixes:
        path = onnx_dir / f"{stem}{suffix}.onnx"
        if path.is_file():
            return path
    raise ModelError(f"no onnx/{stem}{'_' + dtype if dtype and dtype != 'fp32' else '*'}.onnx in the model folder", model_dir)


def _section(model_dir: Path, section: dict, default_file: Path) -> GraphNames:
    filename = section.get("filename")
    file = (model_dir / filename) if filename else default_file
    if not file.is_file():
        raise ModelError("genai_config.json names a graph file that does not exist", file)
    return GraphNames(file, dict(section.get("inputs", {})), dict(section.get("outputs", {})))


def read_names(model_dir: str | Path, dtype: str | None = None) -> ModelNames:
    """The graphs and tensor names of a community model folder (genai_config.json honoured)."""
    root = Path(model_dir)
    genai_path = root / "genai_config.json"
    genai = {}
    if genai_path.is_file():
        try:
            data = json.loads(genai_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ModelError(f"genai_config.json is not valid JSON ({exc})", genai_path) from None
        genai = data.get("model", {}) if isinstance(data, dict) else None
        sections = [genai.get(k, {}) for k in ("vision", "embedding", "decoder")] if isinstance(genai, dict) else [0]
        if not all(isinstance(section, dict) for section in sections):
            raise ModelError("genai_config.json must be an object whose 'model' holds vision / embedding / decoder "
                             "objects", genai_path)

    def default(stem: str) -> Path | None:
        try:
            return find_graph(root, stem, dtype)
        except ModelError:
            if genai:
                return None  # genai_config may name the file instead
            raise

    vision = _section(root, genai.get("vision", {}), default("vision_encoder"))
    embedding = _section(root, genai.get("embedding", {}), default("embed_tokens"))
    decoder_cfg = genai.get("decoder", {})
    decoder = _section(root, decoder_cfg, default("decoder_model_merged"))
    names = ModelNames(vision, embedding, decoder, genai=genai)
    names.past_key = decoder.inputs.pop("past_key_names", names.past_key)
    names.past_value = decoder.inputs.pop("past_value_names", names.past_value)
    names.present_key = decoder.outputs.pop("present_key_names", names.present_key)
    names.present_value = decoder.outputs.pop("present_value_names", names.present_value)
    return names
