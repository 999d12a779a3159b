"""Load-time checks that a RadFound model folder's JSON files and ONNX graphs agree with each other.

A folder can pass its manifest (every sha256 as recorded) and still be inconsistent: a config.json
with one layer too many, a graph whose inputs were renamed, a generation_config.json with
``"max_new_tokens": "95"``. Without these checks such a folder loads and then fails inside ONNX
Runtime or numpy at the first question, with an error that names neither the file nor the key.
Here every problem is a :class:`~radfound.errors.ModelError` naming the file (and the key or tensor).
"""

from __future__ import annotations

from pathlib import Path

from radfound.engine.generation import is_int
from radfound.errors import ConfigError, ModelError
from radfound.registry.manifest import read_json_object

#: text_config keys the engine reads, each a whole number >= 1.
TEXT_KEYS = ("vocab_size", "hidden_size", "num_layers", "num_heads", "num_kv_heads", "max_position_embeddings")


def _whole(value) -> bool:
    return is_int(value) and value >= 1


def need_whole(table: dict, key: str, path: Path, prefix: str = "", default=None) -> int:
    """``table[key]`` (else ``default``) as a whole number >= 1, or ModelError naming the file and the key."""
    value = table.get(key, default)
    if not _whole(value):
        what = "missing" if value is None else f"{value!r}"
        raise ModelError(f"{prefix}{key} must be a whole number >= 1 ({what})", path)
    return value


def read_model_config(path: Path) -> dict:
    """config.json with the keys the engine uses checked (types and the head arithmetic)."""
    config = read_json_object(path)
    text = config.get("text_config")
    if not isinstance(text, dict):
        raise ModelError("text_config must be an object with the decoder's sizes "
                         f"({'missing' if text is None else type(text).__name__})", path)
    for key in TEXT_KEYS:
        need_whole(text, key, path, "text_config.")
    if text["hidden_size"] % text["num_heads"] or text["num_heads"] % text["num_kv_heads"]:
        raise ModelError("text_config: hidden_size must be a multiple of num_heads, and num_heads of num_kv_heads "
                         f"({text['hidden_size']}, {text['num_heads']}, {text['num_kv_heads']})", path)
    token = config.get("image_token_id")
    if not is_int(token) or token < 0:
        raise ModelError(f"image_token_id must be a token id ({'missing' if token is None else repr(token)})", path)
    need_whole(config, "num_image_tokens", path)
    vision = config.get("vision_config", {})
    if not isinstance(vision, dict):
        raise ModelError(f"vision_config must be an object, not a {type(vision).__name__}", path)
    if "image_size" in vision:
        need_whole(vision, "image_size", path, "vision_config.")
    return config


def read_generation_defaults(path: Path) -> dict:
    """generation_config.json, every option the engine knows checked now rather than at the first question."""
    from radfound.engine.generation import GenerationConfig

    defaults = read_json_object(path)
    try:
        GenerationConfig.from_dict(defaults)
    except ModelError as exc:
        raise ModelError(exc.problem, path) from None
    return defaults


def read_preprocessor_config(model_dir: Path, config: dict) -> tuple[dict, int]:
    """preprocessor_config.json (checked) and its image size. Without the file: the defaults at config.json's
    vision_config.image_size (the graph's input size), never the 224 px default the vision encoder would refuse."""
    from radfound.preprocess.config import PreprocessConfig

    path = model_dir / "preprocessor_config.json"
    if path.is_file():
        data = read_json_object(path)
    else:
        size = config.get("vision_config", {}).get("image_size")
        if size is None:
            raise ModelError("no preprocessor_config.json, and config.json has no vision_config.image_size "
                             "to preprocess with", path)
        data = {"image_size": size}
    try:
        image_size = PreprocessConfig.from_dict(data).image_size
    except ConfigError as exc:
        raise ModelError(exc.problem, path if path.is_file() else model_dir / "config.json") from None
    return data, image_size


def expected_graphs(config: dict, image_size: int) -> dict[str, tuple[dict, dict]]:
    """Graph stem -> (inputs, outputs): tensor name -> expected dims, each None (free) or (size, the setting that
    fixes it), as config.json and the preprocessing say. Names follow the exporter (docs/engine.md, "Export")."""
    text, vision = config["text_config"], config.get("vision_config", {})
    d = (text["hidden_size"], "text_config.hidden_size")
    kv = (text["num_kv_heads"], "text_config.num_kv_heads")
    hd = (text["hidden_size"] // text["num_heads"], "text_config.hidden_size / num_heads")
    side = (image_size, "preprocessor_config.json image_size")
    channels = (vision["num_channels"], "vision_config.num_channels") if _whole(vision.get("num_channels")) else None
    cache = (None, kv, None, hd)
    decoder_in = {"inputs_embeds": (None, None, d), "attention_mask": (None, None), "position_ids": (None, None)}
    decoder_out = {"logits": (None, None, (text["vocab_size"], "text_config.vocab_size"))}
    for i in range(text["num_layers"]):
        for part in ("key", "value"):
            decoder_in[f"past_key_values.{i}.{part}"] = cache
            decoder_out[f"present.{i}.{part}"] = cache
    return {
        "embed_tokens": ({"input_ids": (None, None)}, {"inputs_embeds": (None, None, d)}),
        "vision_encoder": ({"pixel_values": (None, channels, side, side), "view_ids": (None,), "positions": (None,)},
                           {"image_features": ((config["num_image_tokens"], "num_image_tokens"), d)}),
        "decoder_model_merged": (decoder_in, decoder_out),
    }


def check_graph_io(session, path: Path, inputs: dict, outputs: dict, num_layers: int | None = None) -> None:
    """ModelError naming ``path`` when the session's tensors differ from what config.json describes: a missing or
    unexpected input, a missing output (or an extra ``present.*``: another layer count), or a fixed dimension
    of another size."""
    have_in = {i.name: i.shape for i in session.get_inputs()}
    have_out = {o.name: o.shape for o in session.get_outputs()}
    def layers(name: str) -> str:  # a cache tensor too many or too few: the layer count disagrees
        cache = name.startswith(("past_key_values.", "present.")) and num_layers is not None
        return f" (config.json text_config.num_layers is {num_layers})" if cache else ""

    for name in inputs:
        if name not in have_in:
            raise ModelError(f"does not match config.json: the graph has no input {name!r}{layers(name)}; "
                             f"its inputs are {', '.join(sorted(have_in))}", path)
    for name in sorted(set(have_in) - set(inputs)):
        raise ModelError(f"does not match config.json: unexpected input {name!r}{layers(name)}", path)
    for name in outputs:
        if name not in have_out:
            raise ModelError(f"does not match config.json: the graph has no output {name!r}{layers(name)}; "
                             f"its outputs are {', '.join(sorted(have_out))}", path)
    for name in sorted(n for n in set(have_out) - set(outputs) if n.startswith("present.")):
        raise ModelError(f"does not match config.json: unexpected output {name!r}{layers(name)}", path)
    for kind, want_all, have_all in (("input", inputs, have_in), ("output", outputs, have_out)):
        for name, want in want_all.items():
            shape = have_all[name]
            if not shape:
                continue  # no shape information in the graph: nothing to compare
            if len(shape) != len(want):
                raise ModelError(f"{kind} {name!r} has {len(shape)} dimensions, the engine feeds {len(want)}", path)
            for axis, (got, expected) in enumerate(zip(shape, want)):
                if expected is not None and isinstance(got, int) and got != expected[0]:
                    raise ModelError(f"does not match config.json: {kind} {name!r} has size {got} in dimension "
                                     f"{axis}, {expected[1]} says {expected[0]}", path)
