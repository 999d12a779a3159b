"""Run a community vision-language model (onnx-community layout) with ONNX Runtime.

Three sessions: the vision encoder turns preprocessed images into features, the
embedding graph turns token ids into embeddings, and the merged decoder generates
with a key/value cache (first step with a length-0 cache). The family adapter
(:mod:`.gemma3`, :mod:`.idefics3`) does the preprocessing, writes the image
placeholders into the family's chat prompt and names the image token whose embeddings
are replaced by the image features. Decoding (greedy, sampling, beams, streaming,
cancel, stop strings) is the engine's own :func:`radfound.engine.generation.generate`.

The object has the attributes and methods the tasks use on a RadFound model (``name``,
``version``, ``provider``, ``num_image_tokens``, ``encode``, ``generate``), so
``draft_report`` and ``answer_question`` run it unchanged: the task's instruction is taken
out of the RadFound prompt and put into the family's own chat template. The manifest is
verified (every sha256) before any session is created.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from radfound.engine.families.decoder import NamedDecoder
from radfound.engine.families.gemma3 import Gemma3Family
from radfound.engine.families.idefics3 import Idefics3Family
from radfound.engine.families.images import study_images
from radfound.engine.families.io_names import read_names
from radfound.engine.folder_checks import need_whole
from radfound.engine.generation import Generated, GenerationConfig, generate, is_int, is_positive, is_real
from radfound.engine.model import EncodedStudy
from radfound.engine.providers import CUDA, create_session, running_provider
from radfound.engine.streaming import TextStream
from radfound.errors import ModelError
from radfound.registry.manifest import read_json_object
from radfound.registry.store import verify_before_load
from radfound.study.model import Study
from radfound.tasks.prompts import ASSISTANT, BOS, IMAGE, USER

FAMILIES = {"gemma3": Gemma3Family, "idefics3": Idefics3Family, "smolvlm": Idefics3Family}

#: The RadFound chat turn the tasks write (radfound.tasks.prompts.chat); its instruction is reused.
_RADFOUND_TURN = re.compile(
    rf"^{re.escape(BOS)}{re.escape(USER)}\n(?:{re.escape(IMAGE)})*\n(?P<instruction>.*){re.escape(ASSISTANT)}\n$",
    re.DOTALL,
)


def _read_json(path: Path) -> dict:
    """An optional JSON-object file of the folder ({} when absent)."""
    return read_json_object(path) if path.is_file() else {}


def _numbers(test) -> Callable[[object], bool]:
    """A number passing ``test``, or a non-empty list of them (per-channel image_mean / image_std)."""
    return lambda v: test(v) or (isinstance(v, list) and bool(v) and all(map(test, v)))


def _sizes(value) -> bool:
    return isinstance(value, dict) and all(is_int(v) and v > 0 for v in value.values())


#: preprocessor_config.json keys the family adapters read -> (test, what is allowed). Pillow filter codes 0-5.
PREPROCESSOR_RULES = {
    "size": (_sizes, "an object of whole numbers of pixels"),
    "max_image_size": (_sizes, "an object of whole numbers of pixels"),
    "resample": (lambda v: is_int(v) and 0 <= v <= 5, "a Pillow filter code 0-5 (2 bilinear, 3 bicubic, 1 Lanczos)"),
    "do_image_splitting": (lambda v: isinstance(v, bool), "true or false"),
    "do_resize": (lambda v: isinstance(v, bool), "true or false"),
    "do_rescale": (lambda v: isinstance(v, bool), "true or false"),
    "do_normalize": (lambda v: isinstance(v, bool), "true or false"),
    "rescale_factor": (is_positive, "a number > 0"),
    "image_mean": (_numbers(is_real), "a number or a list of numbers"),
    "image_std": (_numbers(is_positive), "a number > 0 or a list of them (pixels are divided by it)"),
}

#: config.json keys the family adapters read (top level) -> (test, what is allowed).
CONFIG_RULES = {
    **{key: (lambda v: is_int(v) and v >= 0, "a token id") for key in (
        "image_token_index", "image_token_id", "boi_token_index", "eoi_token_index", "bos_token_id")},
    "mm_tokens_per_image": (lambda v: is_int(v) and v > 0, "a whole number >= 1"),
    "scale_factor": (is_positive, "a number > 0"),
    "vision_config": (lambda v: isinstance(v, dict), "an object"),
    "text_config": (lambda v: isinstance(v, dict), "an object"),
}


def _check_values(data: dict, rules: dict, path: Path, prefix: str = "") -> None:
    """ModelError naming the file and the key whose value the family adapter could not use."""
    for key, (test, allowed) in rules.items():
        if data.get(key) is not None and not test(data[key]):
            raise ModelError(f"{prefix}{key} must be {allowed}, not {data[key]!r}", path)


def _check_decoder_names(session, names, layers: int, config_path: Path) -> None:
    """ModelError naming the decoder graph when it lacks the embeddings, logits or a layer's cache tensors that
    config.json (its layer count) and genai_config.json's names promise."""
    have_in = {i.name for i in session.get_inputs()}
    have_out = {o.name for o in session.get_outputs()}
    wanted_in = [names.decoder.input("inputs_embeds")]
    wanted_in += [n % i for i in range(layers) for n in (names.past_key, names.past_value)]
    wanted_out = [names.decoder.output("logits")]
    wanted_out += [n % i for i in range(layers) for n in (names.present_key, names.present_value)]
    for kind, wanted, have in (("input", wanted_in, have_in), ("output", wanted_out, have_out)):
        missing = [n for n in wanted if n not in have]
        if missing:
            raise ModelError(f"the decoder has no {kind} {missing[0]!r} ({config_path.name} gives {layers} layers); "
                             f"its {kind}s are {', '.join(sorted(have))}", names.decoder.file)


def instruction_of(prompt: str) -> str:
    """The instruction inside a RadFound task prompt (the prompt itself when it is plain text)."""
    match = _RADFOUND_TURN.match(prompt)
    return match.group("instruction").strip() if match else prompt.strip()


class CommunityVLModel:
    """A loaded community model: ``encode`` a study once, then ``generate`` from it for every prompt."""

    #: The tasks' RadFound prompts carry no placeholders for a community model: the family writes its own.
    num_image_tokens = 0

    def __init__(self, model_dir: str | Path, device: str = "auto", dtype: str | None = None):
        self.model_dir = Path(model_dir)
        self.manifest = verify_before_load(self.model_dir)
        config_path = self.model_dir / "config.json"
        self.config = _read_json(config_path)
        model_type = self.config.get("model_type", "")
        if model_type not in FAMILIES:
            raise ModelError(
                f"model_type {model_type!r} is not a supported community family ({', '.join(sorted(FAMILIES))})",
                config_path,
            )
        self.generation_defaults = _read_json(self.model_dir / "generation_config.json")
        tok_path = self.model_dir / "tokenizer.json"
        if not tok_path.is_file():
            raise ModelError("no tokenizer.json in the model folder", self.model_dir)
        try:
            self.tokenizer = Tokenizer.from_file(str(tok_path))
        except Exception as exc:  # tokenizers raises a plain Exception on malformed JSON
            raise ModelError(f"tokenizer.json cannot be read ({exc})", tok_path) from None
        pre_path = self.model_dir / "preprocessor_config.json"
        preprocessor = _read_json(pre_path)
        _check_values(preprocessor, PREPROCESSOR_RULES, pre_path)
        _check_values(self.config, CONFIG_RULES, config_path)
        text = self.config.get("text_config", self.config)
        _check_values(text, {"bos_token_id": CONFIG_RULES["bos_token_id"]}, config_path, "text_config.")
        vision = self.config.get("vision_config", {})
        for key in ("image_size", "patch_size"):
            if key in vision:
                need_whole(vision, key, config_path, "vision_config.")
        try:
            self.family = FAMILIES[model_type](self.config, preprocessor, self.tokenizer)
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:  # a value the checks missed
            raise ModelError(f"the {model_type} adapter cannot use config.json / preprocessor_config.json "
                             f"({type(exc).__name__}: {exc})", self.model_dir) from None
        self.name = self.manifest.get("name") or self.model_dir.name
        self.version = str(self.manifest.get("model_version", ""))
        self.names = read_names(self.model_dir, dtype)
        genai_decoder = self.names.genai.get("decoder", {})
        genai_decoder = genai_decoder if isinstance(genai_decoder, dict) else {}
        where = "text_config." if "text_config" in self.config else ""

        def size(genai_key: str, key: str, default=None) -> int:
            if genai_decoder.get(genai_key) is not None:
                return need_whole(genai_decoder, genai_key, self.model_dir / "genai_config.json", "model.decoder.")
            return need_whole(text, key, config_path, where, default)

        layers = size("num_hidden_layers", "num_hidden_layers")
        kv = size("num_key_value_heads", "num_key_value_heads")
        self.hidden_size = size("hidden_size", "hidden_size")
        if genai_decoder.get("head_size") is not None or text.get("head_dim") is not None:
            head_dim = size("head_size", "head_dim")
        else:
            head_dim = self.hidden_size // need_whole(text, "num_attention_heads", config_path, where)
        vocab = text.get("vocab_size")
        if vocab is not None and not (is_int(vocab) and vocab > 0):
            raise ModelError(f"{where}vocab_size must be a whole number >= 1, not {vocab!r}", config_path)
        self.vocab_size = vocab or int(np.iinfo(np.int64).max)
        eos = self.generation_defaults.get("eos_token_id", text.get("eos_token_id"))
        eos_list = eos if isinstance(eos, list) else [eos]
        if not all(e is None or is_int(e) for e in eos_list):
            raise ModelError(f"eos_token_id must be a token id or a list of them, not {eos!r}",
                             self.model_dir / "generation_config.json")
        self.eos_ids = [e for e in eos_list if e is not None]
        if not self.eos_ids:
            raise ModelError("no eos_token_id in generation_config.json or config.json", self.model_dir)
        self.vision = create_session(self.names.vision.file, device)
        self.embed_session = create_session(self.names.embedding.file, device)
        decoder_session = create_session(self.names.decoder.file, device)
        self.provider = running_provider(decoder_session)
        _check_decoder_names(decoder_session, self.names, layers, config_path)
        cache_device = "cuda" if self.provider == CUDA else None  # keep the KV cache on the GPU
        self.decoder = NamedDecoder(decoder_session, self.names, layers, kv, head_dim, self.eos_ids, cache_device)
        self._lock = threading.Lock()  # one generation at a time (the KV cache lives in the runner)

    # -- images -------------------------------------------------------------------------------
    def encode_images(self, images: list[np.ndarray], kind: str = "image") -> EncodedStudy:
        """Run the vision encoder once over (H, W, 3) uint8 images."""
        start = time.perf_counter()
        feeds, texts = self.family.vision_inputs(images)
        wanted = {i.name: i for i in self.vision.get_inputs()}
        named = {}
        for key, value in feeds.items():
            name = self.names.vision.input(key)
            if name in wanted:
                dtype = np.float16 if "float16" in wanted[name].type else (
                    np.bool_ if "bool" in wanted[name].type else value.dtype)
                named[name] = value.astype(dtype, copy=False)
        missing = set(wanted) - set(named)
        if missing:
            raise ModelError(f"vision encoder needs inputs this family does not provide: {sorted(missing)}",
                             self.names.vision.file)
        out = self.vision.run([self.names.vision.output("image_features")], named)[0]
        features = out.reshape(-1, out.shape[-1]).astype(np.float32)
        return EncodedStudy(features, kind=kind, encode_ms=(time.perf_counter() - start) * 1e3,
                            extra={"image_texts": texts})

    def encode(self, study: Study) -> EncodedStudy:
        """Encode a Study's pictures (see :func:`.images.study_images`); reuse the result for every question."""
        t0 = time.perf_counter()
        enc = self.encode_images(study_images(study), kind=study.kind)
        enc.study = study
        enc.encode_ms = (time.perf_counter() - t0) * 1e3
        return enc

    # -- text ---------------------------------------------------------------------------------
    def prompt_ids(self, encoded: EncodedStudy, instruction: str) -> np.ndarray:
        """Token ids of the family's chat prompt: the study's image placeholders, then the instruction."""
        prompt = self.family.prompt(encoded.extra["image_texts"], instruction)
        return np.asarray(self.tokenizer.encode(prompt, add_special_tokens=False).ids, dtype=np.int64)

    def embed(self, ids: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        """Embeddings of (B, T) ids; in a prompt, the image placeholders take the image features."""
        ids = np.atleast_2d(np.asarray(ids, dtype=np.int64))
        embed_inputs = {i.name for i in self.embed_session.get_inputs()}
        out_name = self.names.embedding.output("inputs_embeds")
        ids_name = self.names.embedding.input("input_ids")
        features_name = self.names.embedding.input("image_features")
        if features_name in embed_inputs:  # onnxruntime-genai style: the embedding graph merges itself
            feats = features if features is not None else np.zeros((0, self.hidden_size), np.float32)
            return self.embed_session.run([out_name], {ids_name: ids, features_name: feats})[0]
        # Placeholders are replaced only in the prompt; a generated image token is embedded as it is (as
        # transformers does), unless its id lies outside the vocabulary (Gemma 3), then as id 0.
        slots = ids == self.family.image_token_id if features is not None else np.zeros(ids.shape, bool)
        safe = np.where(slots | (ids >= self.vocab_size), 0, ids)
        embeds = self.embed_session.run([out_name], {ids_name: safe})[0]
        count = int(slots.sum())
        if features is not None and count != features.shape[0]:
            raise ModelError(f"prompt has {count} image tokens but the images gave {features.shape[0]} feature vectors",
                             self.model_dir)
        if count:
            embeds = embeds.copy()
            embeds[slots] = features.astype(embeds.dtype)
        return embeds

    def generation_config(self, **overrides) -> GenerationConfig:
        """The model's generation_config.json with the caller's overrides; greedy unless sampling is asked for.

        Community configs often enable sampling (MedGemma: top_k 64, top_p 0.95); a draft for a
        radiologist should be reproducible, so their top_k/top_p are kept for ``do_sample=True`` only.
        """
        defaults = {k: v for k, v in self.generation_defaults.items() if v is not None}
        defaults["eos_token_id"] = self.eos_ids[0]  # the others are folded into it by the decoder runner
        defaults.setdefault("max_new_tokens", 256)
        defaults["do_sample"] = False
        return GenerationConfig.from_dict(defaults, **overrides)

    def generate_ids(self, input_ids: np.ndarray, features: np.ndarray | None, *,
                     on_text: Callable[[str], None] | None = None, cancel: threading.Event | None = None,
                     **gen) -> Generated:
        """Decode from a prompt of token ids (image placeholders take ``features``)."""
        cfg = self.generation_config(**gen)
        ids = np.atleast_2d(np.asarray(input_ids, dtype=np.int64))
        embeds = self.embed(ids, features)
        stream = TextStream(self.tokenizer, stop_strings=cfg.stop_strings, on_text=on_text)
        with self._lock:
            self.decoder.prefill_token_types = (ids == self.family.image_token_id).astype(np.int64)
            return generate(self.decoder, self.embed, embeds, cfg, stream, cancel)

    def generate(self, encoded: EncodedStudy, prompt: str, *, on_text: Callable[[str], None] | None = None,
                 cancel: threading.Event | None = None, **gen) -> Generated:
        """Generate for a task prompt (RadFound format, see radfound.tasks.prompts) or a plain instruction."""
        ids = self.prompt_ids(encoded, instruction_of(prompt))
        result = self.generate_ids(ids, encoded.image_features, on_text=on_text, cancel=cancel, **gen)
        result.text = result.text.strip()
        result.timings.encode_ms = encoded.encode_ms
        return result

    def __repr__(self) -> str:
        return f"CommunityVLModel({self.name!r} {self.family.name}, {self.provider}, {self.model_dir})"


#: The engine's --precision choices -> onnx-community file suffixes. auto and fp32: the plain (fp32) graph
#: when present, else the first variant in io_names.VARIANT_SUFFIXES (fp16 is not preferred on CUDA:
#: Gemma decoders overflow in fp16).
PRECISION_DTYPES = {"auto": None, "fp32": None, "fp16": "fp16", "int8": "quantized"}


def load_community_model(model_dir: str | Path, device: str = "auto", precision: str = "auto",
                         dtype: str | None = None) -> CommunityVLModel:
    """Load (after verifying its manifest) a Gemma 3 or Idefics3/SmolVLM model folder.

    ``dtype`` names an onnx-community variant suffix directly (``q4``, ``q4f16``, ``bnb4``...).
    """
    if precision not in PRECISION_DTYPES:
        raise ModelError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISION_DTYPES)}")
    return CommunityVLModel(model_dir, device=device, dtype=dtype or PRECISION_DTYPES[precision])
