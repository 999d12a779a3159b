"""A loaded RadFound model folder: verified, with ONNX Runtime sessions, ready to encode and generate.

The manifest is verified before any session is created. A study is encoded once
(:meth:`RadFoundModel.encode`) and the :class:`EncodedStudy` is reused for every
question asked about it: only the decoder runs per question.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from radfound.config import cuda_graphs_enabled
from radfound.engine.cuda_graph import CudaGraphDecoder
from radfound.engine.decoder_runner import CpuDecoder, CudaDecoder, InPlaceDecoder, supports_in_place_cache
from radfound.engine.folder_checks import (
    check_graph_io,
    expected_graphs,
    read_generation_defaults,
    read_model_config,
    read_preprocessor_config,
)
from radfound.engine.generation import Generated, GenerationConfig, generate, score_continuations
from radfound.engine.providers import CPU, CUDA, create_session, requested_providers, running_provider
from radfound.engine.streaming import TextStream
from radfound.errors import ModelError
from radfound.registry.manifest import read_json_object
from radfound.registry.store import verify_before_load
from radfound.study.model import Study

#: Graph file suffix per precision (onnx-community naming).
PRECISIONS = {"fp32": "", "fp16": "_fp16", "int8": "_quantized"}
#: precision="auto": the first variant the folder has, per provider (a shipped model may hold only int8).
AUTO_ORDER = {"CPUExecutionProvider": ("fp32", "int8", "fp16"), CUDA: ("fp16", "fp32", "int8")}
REQUIRED = ("config.json", "generation_config.json", "tokenizer.json", "onnx/embed_tokens.onnx")


@dataclass
class EncodedStudy:
    """A study's visual tokens, computed once and reused for every prompt."""

    image_features: np.ndarray  # (K, d) float32
    kind: str = "image"
    inputs: Any = None  # radfound.preprocess.ModelInputs (box mapping back to view pixels), when from a Study
    study: Study | None = None
    encode_ms: float = 0.0
    extra: dict = field(default_factory=dict)


class RadFoundModel:
    def __init__(self, model_dir: str | Path, device: str = "auto", precision: str = "auto"):
        self.model_dir = Path(model_dir)
        if precision != "auto" and precision not in PRECISIONS:
            raise ModelError(f"unknown precision {precision!r}; choose auto or one of {', '.join(PRECISIONS)}")
        self.manifest = verify_before_load(self.model_dir)  # every sha256; a shipped model also against models.json
        for rel in REQUIRED:
            if not (self.model_dir / rel).is_file():
                raise ModelError("required model file missing", self.model_dir / rel)
        self.config = read_model_config(self.model_dir / "config.json")
        self.generation_defaults = read_generation_defaults(self.model_dir / "generation_config.json")
        self.preprocessor_config, image_size = read_preprocessor_config(self.model_dir, self.config)
        try:
            self.tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        except Exception as exc:  # tokenizers raises a plain Exception on malformed JSON
            raise ModelError(f"tokenizer.json cannot be read ({exc})", self.model_dir / "tokenizer.json") from None
        self.name = str(self.manifest.get("name") or self.config.get("name") or self.model_dir.name)
        self.version = str(self.manifest.get("model_version", ""))
        #: DICOM modalities of the training images (manifest provenance); empty: unknown, nothing is checked.
        provenance = self.manifest.get("provenance")
        modalities = provenance.get("modalities") if isinstance(provenance, dict) else None
        self.trained_modalities = tuple(str(m) for m in modalities) if isinstance(modalities, list) else ()
        graphs = expected_graphs(self.config, image_size)
        text = self.config["text_config"]
        embed_path = self._graph("embed_tokens", "")
        self.embed_session = create_session(embed_path, device)
        check_graph_io(self.embed_session, embed_path, *graphs["embed_tokens"])
        first = running_provider(self.embed_session)
        if device == "auto" and first != CUDA:
            device = "cpu"  # CUDA did not start (e.g. its libraries are missing): do not try again per graph
        self.vision_precision, self.precision = self._choose_precision(precision, first)
        vision_path = self._graph("vision_encoder", PRECISIONS[self.vision_precision])
        self.vision = create_session(vision_path, device)
        check_graph_io(self.vision, vision_path, *graphs["vision_encoder"])
        decoder_path = self._graph("decoder_model_merged", PRECISIONS[self.precision])
        self.decoder_path = decoder_path
        self.decoder = _decoder_runner(decoder_path, device, text, graphs["decoder_model_merged"])
        self.provider = running_provider(self.decoder.session)
        self.image_token_id = self.config["image_token_id"]
        self.num_image_tokens = self.config["num_image_tokens"]
        self._lock = threading.Lock()  # one generation at a time per model (the KV cache is per model)

    def _choose_precision(self, precision: str, provider: str) -> tuple[str, str]:
        """(vision, decoder) precision: as asked, else the first pair the folder has in AUTO_ORDER, else each graph's
        own first variant (radfound-base pairs a float32 vision encoder with an int8 decoder)."""
        if precision != "auto":
            return precision, precision
        order = AUTO_ORDER.get(provider, AUTO_ORDER["CPUExecutionProvider"])

        def have(graph: str, candidate: str) -> bool:
            return (self.model_dir / "onnx" / f"{graph}{PRECISIONS[candidate]}.onnx").is_file()

        for candidate in order:
            if have("vision_encoder", candidate) and have("decoder_model_merged", candidate):
                return candidate, candidate
        vision = next((c for c in order if have("vision_encoder", c)), None)
        decoder = next((c for c in order if have("decoder_model_merged", c)), None)
        if vision is None or decoder is None:
            raise ModelError("no vision_encoder and decoder_model_merged graphs in onnx/", self.model_dir)
        return vision, decoder

    def _graph(self, name: str, suffix: str) -> Path:
        path = self.model_dir / "onnx" / f"{name}{suffix}.onnx"
        if not path.is_file():
            if suffix:
                wanted = next(p for p, x in PRECISIONS.items() if x == suffix)
                raise ModelError(f"this model has no {wanted} variant of {name}", path)
            raise ModelError("required model file missing", path)
        return path

    # -- encoding ---------------------------------------------------------------------------------
    def encode(self, study: Study) -> EncodedStudy:
        """Preprocess (model's preprocessor_config.json) and encode a study into its visual tokens.

        A DICOM modality the model never saw in training (ultrasound, PET...) is added to
        ``study.warnings``, so the draft's JSON, text and SR say so."""
        from radfound.preprocess import PreprocessConfig, preprocess  # the study engineer's module

        study.add_warning(self.modality_warning(study))
        t0 = time.perf_counter()
        inputs = preprocess(study, PreprocessConfig.from_dict(self.preprocessor_config))
        enc = self.encode_inputs(inputs.pixel_values, inputs.view_ids, inputs.positions, kind=study.kind)
        enc.inputs, enc.study = inputs, study
        enc.encode_ms = (time.perf_counter() - t0) * 1e3
        return enc

    def modality_warning(self, study: Study) -> str | None:
        """Why a draft of this study needs extra care: its modality is not one the model was trained on."""
        modality = str(study.metadata.get("modality") or "").upper()
        if not modality or not self.trained_modalities or modality in self.trained_modalities:
            return None
        return (f"{self.name} was not trained on {modality} images (only {', '.join(self.trained_modalities)}): "
                "its output for this study is unreliable")

    def encode_inputs(self, pixel_values: np.ndarray, view_ids: np.ndarray, positions: np.ndarray, *,
                      kind: str = "image") -> EncodedStudy:
        """Run the vision encoder on already preprocessed arrays ((N,1,S,S), (N,), (N,))."""
        t0 = time.perf_counter()
        (features,) = self.vision.run(["image_features"], {
            "pixel_values": np.ascontiguousarray(pixel_values, dtype=np.float32),
            "view_ids": np.asarray(view_ids, dtype=np.int64),
            "positions": np.asarray(positions, dtype=np.int64),
        })
        return EncodedStudy(features.astype(np.float32, copy=False), kind=kind,
                            encode_ms=(time.perf_counter() - t0) * 1e3)

    # -- generation -------------------------------------------------------------------------------
    def embed(self, input_ids: np.ndarray) -> np.ndarray:
        return self.embed_session.run(["inputs_embeds"], {"input_ids": np.asarray(input_ids, dtype=np.int64)})[0]

    def prompt_embeds(self, prompt: str, encoded: EncodedStudy) -> np.ndarray:
        """Tokenise a prompt and splice the visual tokens over its ``<image>`` placeholders."""
        ids = np.array([self.tokenizer.encode(prompt, add_special_tokens=False).ids], dtype=np.int64)
        embeds = self.embed(ids)
        slots = ids[0] == self.image_token_id
        if int(slots.sum()) != encoded.image_features.shape[0]:
            raise ModelError(
                f"prompt has {int(slots.sum())} image placeholders, the study has {encoded.image_features.shape[0]} "
                "visual tokens"
            )
        embeds[0, slots] = encoded.image_features
        return embeds

    def generation_config(self, **overrides) -> GenerationConfig:
        return GenerationConfig.from_dict(self.generation_defaults, **overrides)

    def generate(self, encoded: EncodedStudy, prompt: str, *, on_text: Callable[[str], None] | None = None,
                 cancel: threading.Event | None = None, **gen) -> Generated:
        """Generate the assistant's text for ``prompt`` (see radfound.tasks.prompts) about an encoded study."""
        cfg = self.generation_config(**gen)
        embeds = self.prompt_embeds(prompt, encoded)
        room = self._room(embeds.shape[1], 1)
        if cfg.max_new_tokens > room:
            cfg.max_new_tokens = room  # the rotary tables end here
        stream = TextStream(self.tokenizer, stop_strings=cfg.stop_strings, on_text=on_text)
        with self._lock:
            result = generate(self.decoder, self.embed, embeds, cfg, stream, cancel)
        result.timings.encode_ms = encoded.encode_ms
        return result

    def score(self, encoded: EncodedStudy, prompt: str, answers: list[str], *,
              cancel: threading.Event | None = None) -> list[float]:
        """Log-probability of each complete answer (its tokens, then end-of-text) after ``prompt``."""
        embeds = self.prompt_embeds(prompt, encoded)
        eos = self.generation_config().eos_token_id
        ids = [self.tokenizer.encode(a, add_special_tokens=False).ids + [eos] for a in answers]
        self._room(embeds.shape[1], max(map(len, ids)))
        with self._lock:
            return score_continuations(self.decoder, self.embed, embeds, ids, cancel)

    def _room(self, prompt_tokens: int, need: int) -> int:
        """Positions left after the prompt; ModelError when fewer than ``need`` (the rotary tables end)."""
        context = int(self.config["text_config"]["max_position_embeddings"])
        room = context - prompt_tokens
        if room < need:
            raise ModelError(f"the prompt ({prompt_tokens} tokens) fills the model's context ({context} positions); "
                             "ask a shorter question")
        return room

    def __repr__(self) -> str:
        return f"RadFoundModel({self.name!r} {self.version}, {self.provider}, {self.model_dir})"


def _decoder_runner(path: Path, device: str, text: dict, io: tuple[dict, dict]):
    """The fastest cache runner the decoder graph and the provider that really runs it allow: a captured CUDA
    graph for decode steps (in-place cache on CUDA), the in-place cache, or the growing community-layout cache.

    The runner follows ``running_provider`` of the session, never the provider asked for: with the NVIDIA driver
    present but CUDA's libraries missing, ORT runs the session on the CPU, where a CUDA runner cannot bind."""
    hd = text["hidden_size"] // text["num_heads"]
    capacity = text["max_position_embeddings"]
    shape = (text["num_layers"], text["num_kv_heads"], hd)
    graph = None
    if requested_providers(device)[0] != CPU and cuda_graphs_enabled():
        try:
            graph = create_session(path, device, cuda_graph=True)
        except ModelError:  # ORT cannot capture this graph (nodes outside CUDA): the plain session below
            pass
    if graph is not None and running_provider(graph) == CUDA:
        check_graph_io(graph, path, *io, num_layers=text["num_layers"])
        if supports_in_place_cache(graph):
            return CudaGraphDecoder(graph, *shape, default_capacity=capacity)
    session = create_session(path, device)
    check_graph_io(session, path, *io, num_layers=text["num_layers"])
    on_cuda = running_provider(session) == CUDA
    if supports_in_place_cache(session):
        return InPlaceDecoder(session, *shape, device="cuda" if on_cuda else "cpu", default_capacity=capacity)
    return (CudaDecoder if on_cuda else CpuDecoder)(session, *shape)


def load_model(model_dir: str | Path | None = None, device: str = "auto", precision: str = "auto"):
    """Load (and verify) a model: a folder, an installed model's name, or None for the shipped ``radfound-small``.

    ``precision="auto"`` takes fp32 on CPU (fp16 on CUDA) when the folder has it, else the other
    variants. A community folder (``config.json`` ``model_type`` gemma3 / idefics3 / smolvlm) is
    handed to :func:`radfound.engine.families.load_community_model`; both expose the same API.
    """
    from radfound.engine.families import is_community_model, load_community_model
    from radfound.registry.store import resolve_model

    path = Path(model_dir) if model_dir is not None and Path(model_dir).is_dir() else None
    if path is None:
        try:
            path = resolve_model(model_dir)
        except ModelError as exc:
            raise ModelError(f"model folder not found: {exc.problem}", exc.path or model_dir) from None
    config = path / "config.json"
    if config.is_file() and is_community_model(read_json_object(config)):
        return load_community_model(path, device=device, precision=precision)
    return RadFoundModel(path, device=device, precision=precision)

