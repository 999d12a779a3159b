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
