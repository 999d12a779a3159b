"""radfound-base's training stages, by steps, each resumable from its last checkpoint.

- ``vision``: the vision encoder (EfficientNet blocks after the cached trunk, the patch projection, the
  within-image, context and resampler layers) and the concept head learn each study's known facts and
  finding patches (radfound.training.concepts); the language model is not run.
- ``align``: the vision encoder and the new token rows learn to speak to the frozen decoder (captions,
  reports, questions).
- ``instruct``: everything trainable at once: LoRA adapters, decoder norms, new rows, the vision encoder
  (at ``vision_lr_scale``), with the concept loss beside the language loss.

Language batches are one task each, ``batch_studies`` studies with up to ``rows_per_study`` rows packed into
one sequence per study (radfound.training.packing). The learning rate warms up over 5% of the steps and then
follows a cosine to 10%. Every ``checkpoint_minutes`` (and at the end) the stage writes
``<out>/stage_<name>.pt`` with the trainable weights, the optimiser and the samplers' state; a run started
again with the same ``--out`` resumes there, and a finished stage is loaded, not re-run.
"""

from __future__ import annotations

import math
import os
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from radfound.errors import ConfigError
from radfound.training.loop import has_boxes, rows_by_study, study_sampler

STAGES = ("vision", "align", "instruct")


# -- which parameters train ----------------------------------------------------------------------------------
def parameter_groups(model, stage: str) -> dict[str, list[torch.nn.Parameter]]:
    """The parameters each group trains in ``stage`` (the frozen trunk and pretrained weights never do)."""
    cnn = model.vision.patch_embed.net
    trunk = {id(p) for blk in cnn._blocks[: model.vision.patch_embed.trunk_blocks] for p in blk.parameters()}
    trunk |= {id(p) for m in (cnn._conv_stem, cnn._bn0) for p in m.parameters()}
    cnn_rest = [p for p in cnn.parameters() if id(p) not in trunk]
    cnn_ids = {id(p) for p in cnn.parameters()}
    neck = [p for p in model.vision.parameters() if id(p) not in cnn_ids]
    lora = [p for n, p in model.decoder.named_parameters() if ".lora_" in n]
    norms = [p for n, p in model.decoder.named_parameters() if n.endswith("norm.weight")]
    groups = {"cnn": cnn_rest, "neck": neck, "rows": [model.embed_tokens.extra], "lora": lora, "norms": norms}
    active = {"vision": ("cnn", "neck"), "align": ("cnn", "neck", "rows"),
              "instruct": ("cnn", "neck", "rows", "lora", "norms")}[stage]
    return {g: ps for g, ps in groups.items() if g in active}


def trainable_names(model) -> list[str]:
    """Every parameter some stage trains: what a checkpoint and the kit keep (the rest comes from packages)."""
    ids = {id(p) for ps in parameter_groups(model, "instruct").values() for p in ps}
    return [n for n, p in model.named_parameters() if id(p) in ids]


def set_trainable(model, stage: str) -> None:
    for p in model.parameters():
        p.requires_grad_(False)
    for ps in parameter_groups(model, stage).values():
        for p in ps:
            p.requires_grad_(True)


def make_optimizer(model, head, stage_cfg: dict, stage: str, weight_decay: float) -> torch.optim.Optimizer:
    scales = {"cnn": stage_cfg.get("cnn_lr_scale", 0.1), "neck": stage_cfg.get("vision_lr_scale", 1.0),
              "rows": stage_cfg.get("rows_lr_scale", 1.0), "lora": 1.0, "norms": stage_cfg.get("norms_lr_scale", 0.1)}
    groups = []
    for name, ps in parameter_groups(model, stage).items():
        groups.append({"params": [p for p in ps if p.ndim >= 2], "weight_decay": weight_decay, "lr_scale": scales[name]})
        groups.append({"params": [p for p in ps if p.ndim < 2], "weight_decay": 0.0, "lr_scale": scales[name]})
    if head is not None:
        groups.append({"params": list(head.parameters()), "weight_decay": weight_decay,
                       "lr_scale": stage_cfg.get("head_lr_scale", 1.0)})
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=stage_cfg["lr"], betas=(0.9, 0.98))


def learning_rate(base: float, step: int, steps: int, warmup: float = 0.05) -> float:
    p = step / max(steps, 1)
    if p < warmup:
        return base * max(p / warmup, 0.02)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min((p - warmup) / (1 - warmup), 1.0))))


def vision_groups(concepts) -> list[list[str]]:
    """The vision stage draws each batch equally from phantoms, chest images with disease facts and the other real
    images, so neither the many phantoms nor the many organ facts drown the few labelled chest diseases."""
    keys = list(concepts.targets)
    chest = {k for k in keys if any(concepts.names[i].startswith("disease:") and concepts.targets[k][1][i] > 0
                                    for i in range(len(concepts.names)))}
    groups = [[k for k in keys if k.startswith("phantom:")], [k for k in keys if k in chest],
              [k for k in keys if not k.startswith("phantom:") and k not in chest]]
    return [g for g in groups if g]


# -- the forward passes ---------------------------------------------------------------------------------------
def encode(model, cache, pool, keys, rng, *, augmented: bool, patches: dict | None = None, patch_keys=()):
    """Visual tokens (K, d) per study from the cached trunk; studies in ``patch_keys`` also fill ``patches``."""
    feats = {}
    for key in dict.fromkeys(keys):
        inp = pool.inputs[key]
        trunk = cache.get(key, rng, augmented and (patches is None or key not in patch_keys))
        views, positions = torch.from_numpy(inp.view_ids), torch.from_numpy(inp.positions)
        if patches is not None and key in patch_keys:
            feats[key], patches[key] = model.vision(None, views, positions, return_patches=True, trunk=trunk)
        else:
            feats[key] = model.vision(None, views, positions, trunk=trunk)
    return feats


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU does bfloat16 matmuls natively (AVX512-BF16 or AMX). Without it, CPU autocast to bfloat16
    is emulated: measured 183 s per align step on a 2-core AVX2 EPYC against about 5 s in float32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def packed_loss(model, batcher, groups: list[tuple[str, list[tuple[str, str]]]], feats: dict,
                bf16: bool = False) -> torch.Tensor:
    """Mean next-token loss over the target tokens of packed sequences (one per study). With ``bf16`` the decoder's
    matmuls run in bfloat16 (CPU autocast: twice as fast on a CPU with AVX512-BF16); the weights, their gradients
    and the loss stay float32."""
    ids, labels, positions, mask = batcher([rows for _, rows in groups])
    embeds = model.embed_tokens(ids)
    s, k = batcher.image_start, batcher.k
    image = torch.stack([feats[key] for key, _ in groups]).to(embeds.dtype)
    embeds = torch.cat([embeds[:, :s], image, embeds[:, s + k:]], dim=1)
    target = labels[:, 1:]
    chosen = target != -100
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        hidden, _ = model.decoder.hidden(embeds, None, positions, model.decoder.empty_cache(ids.shape[0]), mask=mask)
        logits = model.decoder.lm_head(hidden[:, :-1][chosen])
    return F.cross_entropy(logits.float(), target[chosen])


# -- checkpoints ----------------------------------------------------------------------------------------------
def checkpoint_path(out: Path, stage: str) -> Path:
    return Path(out) / f"stage_{stage}.pt"


def save_stage(path: Path, model, head, opt, state: dict) -> None:
    names = set(trainable_names(model))
    payload = {"model": {n: p.detach().clone() for n, p in model.named_parameters() if n in names},
               "head": head.state_dict() if head is not None else None,
               "optimizer": opt.state_dict() if opt is not None else None, **state}
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_trainable(model, head, payload: dict) -> None:
    params = dict(model.named_parameters())
    unknown = [n for n in payload["model"] if n not in params]
    if unknown:
        raise ConfigError(f"the checkpoint has weights this model does not ({unknown[0]})")
    with torch.no_grad():
        for n, v in payload["model"].items():
            params[n].copy_(v)
    if head is not None and payload.get("head") is not None:
        head.load_state_dict(payload["head"])


# -- one stage ----------------------------------------------------------------------------------------------
def run_stage(stage: str, model, pool, cache, batcher, stage_cfg: dict, *, out: Path, seed: int, weight_decay: float,
              concepts=None, head=None, concept_weight: float = 0.0, log=print) -> dict:
    """Train ``stage`` for ``stage_cfg["max_steps"]`` steps, resuming from its checkpoint; returns its summary."""
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}; stages are {list(STAGES)}")
    steps = int(stage_cfg["max_steps"])
    path = checkpoint_path(out, stage)
    set_trainable(model, stage)
    model.train()
    use_head = head is not None and concepts is not None and (stage == "vision" or concept_weight > 0)
    opt = make_optimizer(model, head if use_head else None, stage_cfg, stage, weight_decay)
    rng = random.Random(f"{seed}:{stage}")
    state = {"step": 0, "losses": [], "concept_losses": [], "seconds": 0.0}
    if path.is_file():
        payload = torch.load(path, map_location="cpu", weights_only=True)
        load_trainable(model, head, payload)
        if payload.get("optimizer") is not None and payload["step"] < steps:
            opt.load_state_dict(payload["optimizer"])
        state = {k: payload[k] for k in state}
        if payload.get("rng") is not None:
            rng.setstate(payload["rng"])
        log(f"{stage}: resumed at step {state['step']} of {steps}")
    if state["step"] >= steps:
        return _summary(state)
    if stage == "vision":
        groups = vision_groups(concepts)
    else:
        mixture = stage_cfg["mixture"]
        by_study = rows_by_study(pool, mixture)
        tasks = [t for t in mixture if by_study[t]]
        pick = {t: study_sampler(by_study[t], stage_cfg.get("sample_studies_by")) for t in tasks}
        weights = [mixture[t] for t in tasks]
    bf16 = bool(stage_cfg.get("bf16", False))
    if bf16 and not cpu_has_fast_bf16():
        log(f"{stage}: this CPU has no native bfloat16; the decoder runs in float32")
        bf16 = False
    every = float(stage_cfg.get("checkpoint_minutes", 15)) * 60
    last_save, t0 = time.monotonic(), time.monotonic() - state["seconds"]
    params = [p for g in opt.param_groups for p in g["params"]]
    while state["step"] < steps:
        lr = learning_rate(stage_cfg["lr"], state["step"], steps)
        for g in opt.param_groups:
            g["lr"] = lr * g["lr_scale"]
        patches: dict = {}
        patch_keys = concepts.patches if use_head else ()
        if stage == "vision":
            per = max(int(stage_cfg["batch_studies"]) // len(groups), 1)
            batch = [k for g in groups for k in rng.sample(g, min(per, len(g)))]
            feats = encode(model, cache, pool, batch, rng, augmented=True, patches=patches, patch_keys=patch_keys)
            loss = _concept_loss(concepts, head, feats, patches)
            extra = None
        else:
            task = rng.choices(tasks, weights)[0]
            groups_rows = []
            for _ in range(int(stage_cfg["batch_studies"])):
                key = pick[task](rng)
                mine = by_study[task][key]
                chosen = rng.sample(mine, min(int(stage_cfg["rows_per_study"]), len(mine)))
                groups_rows.append((key, [(ins, tgt) for _, ins, tgt in chosen]))
            feats = encode(model, cache, pool, [k for k, _ in groups_rows], rng, augmented=not has_boxes(task),
                           patches=patches if use_head else None, patch_keys=patch_keys)
            loss = packed_loss(model, batcher, groups_rows, feats, bf16=bf16)
            extra = _concept_loss(concepts, head, feats, patches) if use_head else None
            if extra is not None:
                state["concept_losses"].append(float(extra.detach()))
                loss = loss + concept_weight * extra
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        state["step"] += 1
        state["losses"].append(float(loss.detach()))
        state["seconds"] = time.monotonic() - t0
        if state["step"] % 25 == 0:
            recent = state["losses"][-25:]
            log(f"{stage} step {state['step']}/{steps} loss {sum(recent) / len(recent):.4f} lr {lr:.2e} "
                f"{state['seconds'] / state['step']:.2f} s/step")
        if time.monotonic() - last_save > every or state["step"] == steps:
            save_stage(path, model, head, opt, {**state, "rng": rng.getstate(),
                                                "concept_names": list(concepts.names) if concepts is not None else []})
            last_save = time.monotonic()
    return _summary(state)


def _concept_loss(concepts, head, feats, patches):
    from radfound.training.loop import concept_loss

    return concept_loss(concepts, head, feats, patches)


def _summary(state: dict) -> dict:
    tail = state["losses"][-20:]
    out = {"steps": state["step"], "final_loss": round(sum(tail) / max(len(tail), 1), 4),
           "minutes": round(state["seconds"] / 60, 1)}
    if state["concept_losses"]:
        ctail = state["concept_losses"][-20:]
        out["final_concept_loss"] = round(sum(ctail) / len(ctail), 4)
    return out
