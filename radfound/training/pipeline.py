"""``radfound train``: data -> tokenizer -> model -> three stages -> checkpoint -> exported model folder."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import torch

from radfound.training.concepts import ConceptHead, ConceptTargets
from radfound.training.data import TRAINED_MODALITIES
from radfound.training.config import model_config, seed_everything, with_minutes
from radfound.training.loop import Batcher, pretrain_concepts, pretrain_vision, train_language
from radfound.training.samples import build_pool, phantom_counts

LICENCE = "Apache-2.0 (weights); trained on VQA-RAD (CC0 1.0) and SLAKE (CC BY 4.0, Liu et al., ISBI 2021)"


def train(cfg: dict, out: str | Path, *, minutes: float | None = None, export: bool = True, init=None,
          log=print) -> dict:
    """Run the whole recipe of ``cfg`` into ``out`` and return the training summary."""
    from radfound.modeling.checkpoint import build_model, save_checkpoint
    from radfound.modeling.tokenizer import train_tokenizer

    cfg = with_minutes(cfg, minutes)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seed = seed_everything(cfg)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    t0 = time.monotonic()
    mcfg = model_config(cfg)
    side = mcfg.vision.image_size
    pool = build_pool(cfg, side, log=log, patch=mcfg.vision.patch_size)
    if init is not None:  # continue from a checkpoint: its weights and tokenizer, this config's stages
        from radfound.modeling.checkpoint import load_checkpoint

        model, tok, _ = load_checkpoint(init)
        log(f"continuing from {init}")
    else:
        tok = train_tokenizer(pool.texts, mcfg.text.vocab_size)
        model, tok = build_model(mcfg, seed=seed, tokenizer=tok)
    model.to(device).train()
    log(f"training on {device}")
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model {mcfg.name}: {n_params / 1e6:.2f} M parameters; tokenizer {tok.get_vocab_size()} tokens")
    budget = float(cfg["minutes"]) * 60 - (time.monotonic() - t0)
    stages = cfg["stages"]
    rng = random.Random(seed)
    batcher = Batcher(tok, mcfg.vision.num_image_tokens, int(cfg.get("max_target_tokens", 96)))
    wd = float(cfg.get("weight_decay", 0.05))
    summary: dict = {"config": cfg.get("config_path"), "seed": seed, "parameters": n_params,
                     "pool": pool.counts(), "phantoms": phantom_counts(cfg["data"]), "device": device,
                     # real images whose pixels any stage saw: the training questions' images only (card, docs)
                     "real_images": sum(not k.startswith("phantom:") for k in pool.pretrain_keys)}
    log(f"data and model ready after {(time.monotonic() - t0) / 60:.1f} min; {budget / 60:.1f} min left for the stages")
    gen = torch.Generator().manual_seed(seed)
    extras = {"augment": cfg.get("augment"), "gen": gen}
    s = stages["pretrain"]
    if s["share"] > 0:
        summary["pretrain"] = pretrain_vision(model, pool, s, budget * s["share"], rng, wd, log, **extras)
    weight = float(cfg.get("concept_weight", 0.0))
    if weight > 0:
        concepts = ConceptTargets(pool.facts, patches=pool.patches if cfg.get("finding_patches", True) else None)
        head = ConceptHead(mcfg.vision.num_image_tokens, mcfg.text.hidden_size, len(concepts),
                           mcfg.vision.hidden_size).to(device)
        extras.update(concepts=concepts, concept_head=head, concept_weight=weight)
        summary["concepts"] = {"names": len(concepts), "studies": len(concepts.targets)}
        log(f"concept supervision: {len(concepts)} concepts on {len(concepts.targets)} studies, weight {weight}")
    s = stages.get("concepts", {"share": 0})
    if s["share"] > 0 and weight > 0:
        summary["concepts_stage"] = pretrain_concepts(model, pool, extras["concepts"], extras["concept_head"], s,
                                                      budget * s["share"], rng, wd, log, extras["augment"], gen)
    s = stages["align"]
    if s["share"] > 0:
        summary["align"] = train_language(model, pool, batcher, s, budget * s["share"], rng, wd,
                                          {"caption": 0.7, "phantom": 0.3}, "align", log, **extras)
    s = stages["instruct"]
    summary["instruct"] = train_language(model, pool, batcher, s, budget * s["share"], rng, wd,
                                         s["mixture"], "instruct", log, **extras)
    model.cpu().eval()
    summary["minutes"] = round((time.monotonic() - t0) / 60, 2)
    data = cfg["data"]
    meta = {
        "name": cfg.get("name", mcfg.name),
        "model_version": cfg.get("model_version", "0.0.0"),
        "licence": LICENCE,
        "provenance": {
            "recipe": "radfound train --config " + Path(cfg.get("config_path", "small")).stem,
            "training_data": {
                "vqa-rad": f"train.json, part '{data.get('vqarad_part', 'train')}' (held-out images excluded)",
                "slake": f"{'+'.join(data.get('slake_splits', ['train']))} (en+zh), derived captions/reports/boxes",
                "phantoms": "{mammo} synthetic mammo 4-view sets and {ct} neck CT volumes".format(**phantom_counts(data)),
            },
            "seed": seed,
            "modalities": list(TRAINED_MODALITIES),
        },
    }
    pre = {**cfg.get("preprocess", {}), "image_size": side}
    # Targets were cut to max_target_tokens - 1 tokens and then ended with EOS: an output that long may be one of
    # those cut targets, so generation stops there and the draft is flagged as possibly cut off (Draft.truncated).
    generation = {"max_new_tokens": int(cfg.get("max_target_tokens", 96)) - 1}
    ckpt = save_checkpoint(out / "checkpoint.pt", model, tok, preprocessor_config=pre,
                           generation_config=generation, meta=meta)
    summary["checkpoint"] = str(ckpt)
    summary["init"] = str(init) if init else None
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")  # kept if export fails
    if export:
        from radfound.export.onnx_export import export_model

        export_model(model, tok, out / "model", meta=dict(meta), generation_config=generation,
                     preprocessor_config=pre, overwrite=True)
        summary["model_dir"] = str(out / "model")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    log(f"done in {summary['minutes']} min: {json.dumps({k: summary.get(k) for k in ('pretrain', 'align', 'instruct')})}")
    return summary
