"""Checkpoints: what training saves and ``radfound export`` reads.

A checkpoint is one ``torch.save`` file holding only tensors, strings, numbers,
lists and dicts, so it loads with ``torch.load(weights_only=True)`` (no pickled
code runs)::

    {"format": "radfound-checkpoint/1", "config": RadFoundConfig.to_dict(),
     "state_dict": {...}, "tokenizer_json": "...", "image_token_id": 4,
     "preprocessor_config": {...} | None, "generation_config": {...} | None,
     "meta": {"model_version": ..., "licence": ..., "provenance": {...}}}
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from tokenizers import Tokenizer

from radfound.errors import ModelError
from radfound.modeling.configs import RadFoundConfig, get_config
from radfound.modeling.model import RadFoundModel
from radfound.modeling.tokenizer import builtin_tokenizer
from radfound.tasks.prompts import IMAGE

FORMAT = "radfound-checkpoint/1"


def build_model(config: str | RadFoundConfig = "tiny", *, seed: int = 0,
                tokenizer: Tokenizer | None = None) -> tuple[RadFoundModel, Tokenizer]:
    """A randomly initialised model (deterministic for a seed) and its tokenizer.

    Without a tokenizer, the built-in bilingual one is trained with the config's vocab size.
    """
    cfg = get_config(config) if isinstance(config, str) else config
    tok = tokenizer or builtin_tokenizer(cfg.text.vocab_size)
    if tok.get_vocab_size() > cfg.text.vocab_size:
        raise ValueError(f"tokenizer has {tok.get_vocab_size()} tokens, more than vocab_size={cfg.text.vocab_size}")
    torch.manual_seed(seed)
    model = RadFoundModel(cfg, image_token_id=tok.token_to_id(IMAGE)).eval()
    return model, tok


def save_checkpoint(path: str | Path, model: RadFoundModel, tokenizer: Tokenizer, *,
                    preprocessor_config: dict | None = None, generation_config: dict | None = None,
                    meta: dict | None = None) -> Path:
    """Write a weights-only-safe checkpoint atomically (temp file then rename)."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
        "tokenizer_json": tokenizer.to_str(),
        "image_token_id": int(model.image_token_id),
        "preprocessor_config": preprocessor_config,
        "generation_config": generation_config,
        "meta": meta or {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_checkpoint(path: str | Path) -> tuple[RadFoundModel, Tokenizer, dict]:
    """(model in eval mode, tokenizer, the rest of the payload). Raises ModelError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ModelError("checkpoint not found", path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad/unsafe file
        raise ModelError(f"not a loadable weights-only checkpoint ({type(exc).__name__}: {exc})", path) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelError(f"not a RadFound checkpoint (expected format {FORMAT!r})", path)
    missing = [k for k in ("config", "state_dict", "tokenizer_json") if k not in payload]
    if missing:
        raise ModelError(f"checkpoint lacks {', '.join(missing)}", path)
    cfg = RadFoundConfig.from_dict(payload["config"])
    model = RadFoundModel(cfg, image_token_id=int(payload.get("image_token_id", 4)))
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise ModelError(f"weights do not match the config: {exc}", path) from None
    tok = Tokenizer.from_str(payload["tokenizer_json"])
    return model.eval(), tok, payload


def average_checkpoints(paths: list[str | Path]) -> tuple[RadFoundModel, Tokenizer, dict]:
    """A weight average ("model soup"): the uniform mean of several checkpoints' floating-point weights.

    Returns what ``load_checkpoint`` returns, with the parents recorded in ``meta.provenance``.
    Averaging only makes sense for runs in one basin, such as a run and its continuation: two
    independent runs averaged fell to the question prior (docs/evaluation.md). The checkpoints must
    share config, tokenizer and preprocessing, and their integer buffers must be equal; otherwise a
    ModelError names the checkpoint that differs.
    """
    if len(paths) < 2:
        raise ValueError("a weight average needs at least two checkpoints")
    model, tok, first = load_checkpoint(paths[0])
    states = [model.state_dict()]
    parents = [_parent(paths[0], first)]
    for path in paths[1:]:
        other, _, payload = load_checkpoint(path)
        if other.config.to_dict() != model.config.to_dict():  # as loaded: fields added since take defaults
            raise ModelError(f"its config differs from {Path(paths[0]).name}'s, so the weights cannot be averaged",
                             path)
        for key in ("tokenizer_json", "preprocessor_config", "image_token_id"):
            if payload.get(key) != first.get(key):
                raise ModelError(f"its {key} differs from {Path(paths[0]).name}'s, so the weights cannot be "
                                 "averaged", path)
        state = other.state_dict()
        for name, value in state.items():
            if not value.is_floating_point() and not torch.equal(value, states[0][name]):
                raise ModelError(f"its integer buffer {name} differs from {Path(paths[0]).name}'s", path)
        states.append(state)
        parents.append(_parent(path, payload))
    mean = {name: (torch.stack([s[name] for s in states]).mean(0) if value.is_floating_point() else value)
            for name, value in states[0].items()}
    model.load_state_dict(mean)
    meta = dict(first.get("meta") or {})
    meta["provenance"] = {**(meta.get("provenance") or {}), "weight_average_of": parents}
    meta["model_version"] = f"{meta.get('model_version') or '0.0.0'}+avg{len(parents)}"  # never a parent's own
    return model.eval(), tok, {**first, "meta": meta}


def _parent(path: str | Path, payload: dict) -> dict:
    return {"checkpoint": Path(path).name, "model_version": (payload.get("meta") or {}).get("model_version")}
