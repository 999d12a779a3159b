"""Run a community vision-language model (onnx-community layout) with ONNX Runtime.

Three sessions: the vision encoder turns preprocessed images into features, the
embedding graph turns token ids into embeddings, and the merged decoder generates
with a key/value cache (first step with a length-0 cache). The family adapter
(:mod:`.gemma3`, :mod:`.idefics3`) does the preprocessing, writes the image
placeholders into the prompt and names the image token whose embeddings are replaced
by the image features. Decoding is greedy, streams text through ``on_text`` and checks
``cancel`` between tokens. The manifest is verified (every sha256) before any session
is created.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from radfound.engine.families.gemma3 import Gemma3Family
from radfound.engine.families.idefics3 import Idefics3Family
from radfound.engine.families.images import study_images
from radfound.engine.families.io_names import read_names
from radfound.errors import GenerationCancelled, ModelError
from radfound.registry.manifest import verify_model_dir
from radfound.study.model import Study
from radfound.tasks.results import Timings

FAMILIES = {"gemma3": Gemma3Family, "idefics3": Idefics3Family, "smolvlm": Idefics3Family}

_NP_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int64)": np.int64,
             "tensor(int32)": np.int32, "tensor(bool)": np.bool_}


@dataclass
class EncodedImages:
    """Image features computed once and reused for every question about the same study."""

    features: np.ndarray  # (num_image_tokens, hidden) in the order the placeholders appear
    image_texts: list[str]  # each image's placeholder text for the prompt
    encode_ms: float = 0.0
    study: Study | None = None


@dataclass
class Generation:
    text: str
    token_ids: list[int]
    timings: Timings = field(default_factory=Timings)


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"not valid JSON ({exc})", path) from None


def providers_for(device: str) -> list[str]:
    """ORT providers for "auto" (CUDA when this ORT build has it), "cuda" or "cpu"."""
    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise ModelError("device 'cuda' asked for, but this onnxruntime has no CUDAExecutionProvider")
    return ["CPUExecutionProvider"]


class CommunityVLModel:
    """A loaded community model: ``encode`` images once, then ``generate`` answers from them."""

    def __init__(self, model_dir: str | Path, device: str = "auto", dtype: str | None = None, verify: bool = True):
        self.model_dir = Path(model_dir)
        manifest = verify_model_dir(self.model_dir) if verify else {}
        self.config = _read_json(self.model_dir / "config.json")
        model_type = self.config.get("model_type", "")
        if model_type not in FAMILIES:
            raise ModelError(
                f"model_type {model_type!r} is not a supported community family ({', '.join(sorted(FAMILIES))})",
                self.model_dir / "config.json",
            )
        self.generation_config = _read_json(self.model_dir / "generation_config.json")
        tok_path = self.model_dir / "tokenizer.json"
        if not tok_path.is_file():
            raise ModelError("no tokenizer.json in the model folder", self.model_dir)
        self.tokenizer = Tokenizer.from_file(str(tok_path))
        self.family = FAMILIES[model_type](self.config, _read_json(self.model_dir / "preprocessor_config.json"),
                                           self.tokenizer)
        self.name = manifest.get("name") or self.model_dir.name
        self.version = str(manifest.get("model_version", ""))
        self.names = read_names(self.model_dir, dtype)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        providers = providers_for(device)
        self.vision = ort.InferenceSession(str(self.names.vision.file), opts, providers=providers)
        self.embed = ort.InferenceSession(str(self.names.embedding.file), opts, providers=providers)
        self.decoder = ort.InferenceSession(str(self.names.decoder.file), opts, providers=providers)
        self.provider = self.decoder.get_providers()[0]
        text = self.config.get("text_config", self.config)
        self.num_layers = int(self.names.genai.get("decoder", {}).get("num_hidden_layers", text.get("num_hidden_layers")))
        self._decoder_inputs = {i.name: i for i in self.decoder.get_inputs()}
        first_past = self._decoder_inputs.get(self.names.past_key % 0)
        if first_past is None:
            raise ModelError(f"decoder has no input {self.names.past_key % 0!r}", self.names.decoder.file)
        shape = first_past.shape
        heads = shape[1] if isinstance(shape[1], int) else int(text.get("num_key_value_heads"))
        head_dim = shape[3] if isinstance(shape[3], int) else int(
            text.get("head_dim") or text["hidden_size"] // text["num_attention_heads"])
        self._cache_shape = (1, heads, 0, head_dim)
        self._cache_dtype = _NP_TYPES.get(first_past.type, np.float32)
        eos = self.generation_config.get("eos_token_id", text.get("eos_token_id", self.config.get("eos_token_id")))
        self.eos_ids = set(eos if isinstance(eos, list) else [eos]) - {None}

    # -- images -------------------------------------------------------------------------------
    def encode_images(self, images: list[np.ndarray]) -> EncodedImages:
        """Run the vision encoder once over (H, W, 3) uint8 images."""
        start = time.perf_counter()
        feeds, texts = self.family.vision_inputs(images)
        inputs = {i.name: i for i in self.vision.get_inputs()}
        named = {}
        for key, value in feeds.items():
            name = self.names.vision.input(key)
            if name in inputs:
                named[name] = value.astype(_NP_TYPES.get(inputs[name].type, value.dtype), copy=False)
        missing = set(inputs) - set(named)
        if missing:
            raise ModelError(f"vision encoder needs inputs this family does not provide: {sorted(missing)}",
                             self.names.vision.file)
        out = self.vision.run([self.names.vision.output("image_features")], named)[0]
        features = out.reshape(-1, out.shape[-1]).astype(np.float32)
        return EncodedImages(features, texts, (time.perf_counter() - start) * 1000)

    def encode(self, study: Study) -> EncodedImages:
        """Encode a Study's pictures (see :func:`.images.study_images`)."""
        enc = self.encode_images(study_images(study))
        enc.study = study
        return enc

    # -- text ---------------------------------------------------------------------------------
    def prompt_ids(self, encoded: EncodedImages, question: str) -> np.ndarray:
        prompt = self.family.prompt(encoded.image_texts, question)
        return np.asarray(self.tokenizer.encode(prompt, add_special_tokens=False).ids, dtype=np.int64)

    def _embed(self, ids: np.ndarray, features: np.ndarray | None) -> np.ndarray:
        ids = ids.reshape(1, -1)
        is_image = ids == self.family.image_token_id
        embed_inputs = {i.name for i in self.embed.get_inputs()}
        feeds = {self.names.embedding.input("input_ids"): ids}
        features_name = self.names.embedding.input("image_features")
        if features_name in embed_inputs:  # onnxruntime-genai style: the embedding graph merges itself
            feeds[features_name] = (features if features is not None else np.zeros((0, 1), np.float32))
            return self.embed.run([self.names.embedding.output("inputs_embeds")], feeds)[0]
        feeds[self.names.embedding.input("input_ids")] = np.where(is_image, 0, ids)  # image ids may be out of vocab
        embeds = self.embed.run([self.names.embedding.output("inputs_embeds")], feeds)[0]
        count = int(is_image.sum())
        if count:
            if features is None or features.shape[0] != count:
                have = 0 if features is None else features.shape[0]
                raise ModelError(f"prompt has {count} image tokens but the images gave {have} feature vectors",
                                 self.model_dir)
            embeds = embeds.copy()
            embeds[is_image] = features.astype(embeds.dtype)
        return embeds

    def generate_ids(
        self,
        input_ids: np.ndarray,
        features: np.ndarray | None,
        *,
        max_new_tokens: int = 256,
        on_token: Callable[[int], None] | None = None,
        cancel: threading.Event | None = None,
        timings: Timings | None = None,
    ) -> list[int]:
        """Greedy decoding from a prompt of token ids (image tokens are replaced by ``features``)."""
        timings = timings if timings is not None else Timings()
        start = time.perf_counter()
        names = self.names
        past = {}
        for i in range(self.num_layers):
            past[names.past_key % i] = np.zeros(self._cache_shape, self._cache_dtype)
            past[names.past_value % i] = np.zeros(self._cache_shape, self._cache_dtype)
        out_names = [names.decoder.output("logits")]
        for i in range(self.num_layers):
            out_names += [names.present_key % i, names.present_value % i]
        embeds = self._embed(np.asarray(input_ids, dtype=np.int64), features)
        total = embeds.shape[1]
        positions = np.arange(total, dtype=np.int64)[None]
        generated: list[int] = []
        embed_dtype = _NP_TYPES.get(self._decoder_inputs[names.decoder.input("inputs_embeds")].type, np.float32)
        while len(generated) < max_new_tokens:
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled("generation cancelled by the user")
            feeds = {names.decoder.input("inputs_embeds"): embeds.astype(embed_dtype, copy=False), **past}
            if names.decoder.input("attention_mask") in self._decoder_inputs:
                feeds[names.decoder.input("attention_mask")] = np.ones((1, total), dtype=np.int64)
            if names.decoder.input("position_ids") in self._decoder_inputs:
                feeds[names.decoder.input("position_ids")] = positions
            outputs = self.decoder.run(out_names, feeds)
            token = int(np.argmax(outputs[0][0, -1]))
            if not generated:
                timings.ttft_ms = (time.perf_counter() - start) * 1000
            generated.append(token)
            if token in self.eos_ids:
                break
            if on_token is not None:
                on_token(token)
            for i in range(self.num_layers):
                past[names.past_key % i] = outputs[1 + 2 * i]
                past[names.past_value % i] = outputs[2 + 2 * i]
            embeds = self._embed(np.asarray([token], dtype=np.int64), None)
            positions = np.asarray([[total]], dtype=np.int64)
            total += 1
        timings.new_tokens = len(generated)
        timings.total_ms = (time.perf_counter() - start) * 1000
        if len(generated) > 1:
            timings.decode_ms_per_token = (timings.total_ms - timings.ttft_ms) / (len(generated) - 1)
            timings.tokens_per_s = 1000 / timings.decode_ms_per_token if timings.decode_ms_per_token else 0.0
        return generated

    def generate(
        self,
        study_or_encoded: Study | EncodedImages,
        question: str,
        *,
        on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        max_new_tokens: int | None = None,
    ) -> Generation:
        """Answer ``question`` (or follow a report instruction) about a study; text streams via ``on_text``."""
        encoded = study_or_encoded if isinstance(study_or_encoded, EncodedImages) else self.encode(study_or_encoded)
        ids = self.prompt_ids(encoded, question)
        limit = max_new_tokens or int(self.generation_config.get("max_new_tokens") or 256)
        timings = Timings(encode_ms=encoded.encode_ms)
        shown: list[int] = []
        text_so_far = ""

        def stream(token: int) -> None:
            nonlocal text_so_far
            shown.append(token)
            text = self.tokenizer.decode(shown, skip_special_tokens=True)
            if on_text is not None and text.startswith(text_so_far) and len(text) > len(text_so_far):
                on_text(text[len(text_so_far) :])
            text_so_far = text

        tokens = self.generate_ids(ids, encoded.features, max_new_tokens=limit, on_token=stream, cancel=cancel,
                                   timings=timings)
        text = self.tokenizer.decode([t for t in tokens if t not in self.eos_ids], skip_special_tokens=True)
        return Generation(text.strip(), tokens, timings)


def load_community_model(model_dir: str | Path, device: str = "auto", dtype: str | None = None) -> CommunityVLModel:
    """Load (after verifying its manifest) a Gemma 3 or Idefics3/SmolVLM model folder."""
    return CommunityVLModel(model_dir, device=device, dtype=dtype)
