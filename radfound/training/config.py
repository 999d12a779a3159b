"""Training configurations: JSON files in ``radfound/training/configs/`` (``small`` ships, ``tiny`` tests).

A config names the model preset (``radfound.modeling.configs``) plus overrides, the data
mix, the seed and the wall-clock budget, split between the three stages by ``share``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

from radfound.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def load_train_config(name_or_path: str) -> dict:
    """A named config (``small``, ``tiny``) or a path to a JSON file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = CONFIG_DIR / f"{name_or_path}.json"
    if not path.is_file():
        names = sorted(p.stem for p in CONFIG_DIR.glob("*.json"))
        raise ConfigError(f"no training config {name_or_path!r}; choose one of {names} or give a JSON file", path)
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigError(f"invalid JSON ({exc})", path) from None
    cfg["config_path"] = str(path)
    return cfg


def model_config(cfg: dict):
    """The RadFoundConfig for a training config: the preset with its vision/text overrides."""
    from radfound.modeling.configs import get_config

    spec = cfg["model"]
    base = get_config(spec.get("preset", "small"))
    return replace(
        base,
        name=cfg.get("name", base.name),
        vision=replace(base.vision, **spec.get("vision", {})),
        text=replace(base.text, **spec.get("text", {})),
    )


def with_minutes(cfg: dict, minutes: float | None) -> dict:
    out = copy.deepcopy(cfg)
    if minutes is not None:
        out["minutes"] = float(minutes)
    return out


def seed_everything(cfg: dict) -> int:
    """Seed Python, numpy and torch from ``cfg["seed"]`` and set torch's threads (``cfg["threads"]``, default 2)."""
    import random

    import numpy as np
    import torch

    seed = int(cfg["seed"])
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(int(cfg.get("threads", 2)))
    return seed
