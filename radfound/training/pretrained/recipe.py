"""``radfound train --config base``: data -> pretrained model -> trunk cache -> three stages -> kit -> assembled folder.

Resumable: every stage checkpoints into ``--out`` (radfound.training.pretrained.stages); re-running the same
command continues where the last run stopped. The pool and the trunk cache are rebuilt each run (about 10
minutes on 2 cores), deterministically from the seed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer

from radfound.assembly.build import build_model, kit_dir
from radfound.assembly.pins import PINS
from radfound.training.concepts import ConceptHead, ConceptTargets
from radfound.training.config import model_config, seed_everything
from radfound.training.data import TRAINED_MODALITIES
from radfound.training.packing import PackedBatcher
from radfound.training.pretrained.pool import build_base_pool
from radfound.training.pretrained.stages import STAGES, run_stage
from radfound.training.samples import phantom_counts
from radfound.training.trunk_cache import build_trunk_cache

LICENCE = ("Apache-2.0 (RadFound's trained parts; SmolLM2-135M-Instruct and EfficientNet-Lite0 weights Apache-2.0); "
           "trained on VQA-RAD (CC0 1.0) and SLAKE (CC BY 4.0, Liu et al., ISBI 2021)")


def base_tokenizer(cfg: dict) -> Tokenizer:
    """SmolLM2's BPE with RadFound's tokens after it: the kit's tokenizer.json (how it was made: docs/training.md)."""
    path = Path(cfg.get("tokenizer") or kit_dir(cfg.get("name", "radfound-base")) / "tokenizer.json")
    return Tokenizer.from_file(str(path))


def train_base(cfg: dict, out: str | Path, *, export: bool = True, log=print, search: Path | None = None) -> dict:
    from radfound.modeling.model import RadFoundModel
    from radfound.modeling.pretrained import load_pretrained

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seed = seed_everything(cfg)
    t0 = time.monotonic()
    mcfg = model_config(cfg)
    side, patch, k = mcfg.vision.image_size, mcfg.vision.patch_size, mcfg.vision.num_image_tokens
    tok = base_tokenizer(cfg)
    pool = build_base_pool(cfg, side, patch, log=log)
    model = RadFoundModel(mcfg, image_token_id=tok.token_to_id("<image>"))
    load_pretrained(model, tok, search=search, log=log)
    caching = cfg.get("cache", {})
    gen = torch.Generator().manual_seed(seed)
    cache = build_trunk_cache(
        model.vision.patch_embed, pool,
        lambda key: int(caching.get("phantom_copies", 1) if key.startswith("phantom:") else caching.get("real_copies", 3)),
        cfg.get("augment"), gen, log=log)
    for inp in pool.inputs.values():
        inp.pixel_values = None  # the cache holds what training reads; the pixels are 2 GB
    concepts = ConceptTargets(pool.facts, patches=pool.patches, weights=cfg.get("concept_weights"))
    head = ConceptHead(k, mcfg.text.hidden_size, len(concepts), mcfg.vision.hidden_size)
    batcher = PackedBatcher(tok, k, int(cfg.get("max_target_tokens", 160)))
    summary: dict = {"config": cfg.get("config_path"), "seed": seed, "pool": pool.counts(),
                     "phantoms": phantom_counts(cfg["data"]), "concepts": len(concepts),
                     "parameters": sum(p.numel() for p in model.parameters()),
                     "real_images": sum(not key.startswith("phantom:") for key in pool.inputs),
                     "trunk_cache_mib": round(cache.nbytes() / 2**20)}
    log(f"data, model and cache ready after {(time.monotonic() - t0) / 60:.1f} min; {len(concepts)} concepts")
    for stage in STAGES:
        spec = cfg["stages"].get(stage)
        if not spec or int(spec.get("max_steps", 0)) <= 0:
            continue
        summary[stage] = run_stage(stage, model, pool, cache, batcher, spec, out=out, seed=seed,
                                   weight_decay=float(cfg.get("weight_decay", 0.01)), concepts=concepts, head=head,
                                   concept_weight=float(cfg.get("concept_weight", 0.0)), log=log)
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    summary["minutes_this_run"] = round((time.monotonic() - t0) / 60, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if export:
        summary.update(export_base(cfg, out, model, tok, summary, search=search, log=log))
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    log(f"done: {json.dumps({s: summary.get(s) for s in STAGES})}")
    return summary


def export_base(cfg: dict, out: Path, model=None, tok=None, summary: dict | None = None, *,
                search: Path | None = None, log=print) -> dict:
    """Write ``<out>/kit`` and assemble it into ``<out>/built/<name>``. Without ``model``: the model is rebuilt from
    the pinned packages and the latest stage checkpoint in ``out`` (``radfound train --export-only``)."""
    from radfound.training.pretrained.card import base_card
    from radfound.training.pretrained.kit import write_kit

    out = Path(out)
    if model is None:
        from radfound.modeling.model import RadFoundModel
        from radfound.modeling.pretrained import load_pretrained
        from radfound.training.pretrained.stages import checkpoint_path, load_trainable

        tok = base_tokenizer(cfg)
        model = RadFoundModel(model_config(cfg), image_token_id=tok.token_to_id("<image>"))
        load_pretrained(model, tok, search=search, log=log)
        latest = next((checkpoint_path(out, s) for s in reversed(STAGES) if checkpoint_path(out, s).is_file()), None)
        if latest is None:
            raise FileNotFoundError(f"no stage checkpoint in {out}")
        payload = torch.load(latest, map_location="cpu", weights_only=True)
        load_trainable(model, None, payload)
        log(f"exporting {latest.name} at step {payload['step']}")
        summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else {}
    meta = provenance(cfg)
    mcfg = model.config
    generation = {"max_new_tokens": int(cfg.get("max_target_tokens", 128)) - 1}
    pre = {**cfg.get("preprocess", {}), "image_size": mcfg.vision.image_size}
    measured = json.loads((out / "eval.json").read_text()) if (out / "eval.json").is_file() else None
    kit = write_kit(model, tok, out / "kit", meta=meta, generation_config=generation, preprocessor_config=pre,
                    card=base_card(cfg, summary or {}, measured))
    built = build_model(meta["name"], kit=kit, store=out / "built", search=search, force=True, log=log)
    return {"kit": str(kit), "model_dir": str(built)}


def provenance(cfg: dict) -> dict:
    data = cfg["data"]
    return {
        "name": cfg.get("name", "radfound-base"),
        "model_version": cfg.get("model_version", "0.0.0"),
        "licence": LICENCE,
        "provenance": {
            "recipe": "radfound train --config " + Path(cfg.get("config_path", "base")).stem,
            "pretrained": {name: {"package": pin.requirement, "file": pin.member, "sha256": pin.sha256,
                                  "licence": pin.licence} for name, pin in PINS.items()},
            "training_data": {
                "vqa-rad": f"train.json, part '{data.get('vqarad_part', 'train')}' (held-out images excluded)",
                "slake": f"{'+'.join(data.get('slake_splits', ['train']))} (en+zh), derived reports/captions/boxes",
                "phantoms": "{mammo} synthetic mammo 4-view sets and {ct} neck CT volumes".format(**phantom_counts(data)),
            },
            "seed": int(cfg["seed"]),
            "modalities": list(TRAINED_MODALITIES),
        },
    }
