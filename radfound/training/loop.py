"""The three training stages on a Pool: masked image modelling, image-text alignment, instruction tuning.

Every stage runs for its share of the wall-clock budget (so ``--minutes`` scales the
recipe to the machine) with AdamW, a linear warm-up and a cosine decay over the stage's
time, and a seeded sampler. A batch is built from whole studies: each study is encoded
once and its K visual tokens are shared by all of that study's rows.
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from radfound.errors import ConfigError
from radfound.tasks.prompts import EOS, chat
from radfound.training.augment import augment_study
from radfound.training.concepts import ConceptHead, ConceptTargets
from radfound.training.samples import GROUNDING_TASKS, TASKS, Pool


class StageClock:
    """Learning rate as a function of the elapsed share of the stage's time (or steps)."""

    def __init__(self, seconds: float, max_steps: int | None, lr: float, warmup: float = 0.05):
        self.seconds, self.max_steps, self.lr, self.warmup = seconds, max_steps, lr, warmup
        self.start, self.step = time.monotonic(), 0

    @property
    def progress(self) -> float:
        by_time = (time.monotonic() - self.start) / max(self.seconds, 1e-6)
        by_steps = self.step / self.max_steps if self.max_steps else 0.0
        return max(by_time, by_steps)

    def done(self) -> bool:
        return self.step > 0 and self.progress >= 1.0  # at least one step, even on an exhausted budget

    def rate(self) -> float:
        p = self.progress
        if p < self.warmup:
            return self.lr * max(p / self.warmup, 0.02)
        return self.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min((p - self.warmup) / (1 - self.warmup), 1))))



def optimizer_step(opt, params, loss, clock, losses: list[float], log, stage: str, *, show_lr: bool = True) -> None:
    """One update at the clock's learning rate (grad-norm clipped to 1), with the mean loss logged every 25 steps."""
    for g in opt.param_groups:
        g["lr"] = clock.rate() * g.get("lr_scale", 1.0)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    clock.step += 1
    losses.append(float(loss.detach()))
    if clock.step % 25 == 0:
        lr = f" lr {clock.rate():.2e}" if show_lr else ""
        log(f"{stage} step {clock.step} loss {sum(losses[-25:]) / len(losses[-25:]):.4f}{lr}")


class WeightEMA:
    """An exponential moving average of a model's parameters (torch's ``AveragedModel``), copied back at the end.

    Averaging the last ~1/(1-decay) steps' weights smooths the noise of small batches on small data,
    a cheap guard against ending on one lucky or unlucky step.
    """

    def __init__(self, model: nn.Module, decay: float):
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must be between 0 and 1 (got {decay})")
        self.decay = decay
        self.average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))

    def update(self, model: nn.Module) -> None:
        self.average.update_parameters(model)

    def copy_to(self, model: nn.Module) -> None:
        with torch.no_grad():
            for mine, averaged in zip(model.parameters(), self.average.module.parameters()):
                mine.copy_(averaged)


def final_mean(values: list[float]) -> float:
    """A stage's reported final loss: the mean of its last 20 steps (0.0 for a stage that took none)."""
    tail = values[-20:]
    return round(sum(tail) / max(len(tail), 1), 4)


def _optimizer(params, lr: float, weight_decay: float, scaled=(), lr_scale: float = 1.0) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices only; parameters in ``scaled`` learn at ``lr_scale`` times the rate."""
    scaled_ids = {id(p) for p in scaled}
    params = [p for p in params if p.requires_grad]
    groups = []
    for scale, members in ((1.0, [p for p in params if id(p) not in scaled_ids]),
                           (lr_scale, [p for p in params if id(p) in scaled_ids])):
        groups += [{"params": [p for p in members if p.ndim >= 2], "weight_decay": weight_decay, "lr_scale": scale},
                   {"params": [p for p in members if p.ndim < 2], "weight_decay": 0.0, "lr_scale": scale}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=(0.9, 0.98))


def _tensor(pool: Pool, key: str, device):
    inp = pool.inputs[key]
    return (torch.from_numpy(inp.pixel_values).to(device), torch.from_numpy(inp.view_ids).to(device),
            torch.from_numpy(inp.positions).to(device))


def pretrain_vision(model, pool: Pool, stage: dict, seconds: float, rng: random.Random, weight_decay: float, log,
                    augment: dict | None = None, gen: torch.Generator | None = None) -> dict:
    """SimMIM-style masked image modelling on every image: predict normalised pixels of masked patches
    (of the augmented image when ``augment`` is given)."""
    vision = model.vision
    p = vision.cfg.patch_size
    d = vision.cfg.hidden_size
    device = vision.pos_embed.device
    mask_token = nn.Parameter(torch.zeros(1, 1, d, device=device))
    head = nn.Linear(d, p * p).to(device)
    params = list(vision.patch_embed.parameters()) + [vision.pos_embed] + list(vision.blocks.parameters()) \
        + list(vision.norm.parameters()) + [mask_token] + list(head.parameters())
    opt = _optimizer(params, stage["lr"], weight_decay)
    images = [(key, i) for key in pool.pretrain_keys for i in range(pool.inputs[key].pixel_values.shape[0])]
    clock = StageClock(seconds, stage.get("max_steps"), stage["lr"])
    losses = []
    while not clock.done():
        batch = rng.sample(images, min(stage["batch_images"], len(images)))
        px = torch.from_numpy(np.stack([pool.inputs[k].pixel_values[i] for k, i in batch])).to(device)
        if augment:
            px = torch.cat([augment_study(px[j:j + 1], augment, gen) for j in range(px.shape[0])])
        n, side = px.shape[0], px.shape[-1] // p
        masked = torch.rand(n, side * side, device=device) < stage.get("mask_ratio", 0.5)
        # masked patches are blanked in pixel space too, so a conv stem's receptive field cannot peek into them
        hidden = masked.reshape(n, 1, side, 1, side, 1).expand(n, 1, side, p, side, p).reshape(px.shape)
        x = vision.patch_embed(px.masked_fill(hidden, 0.0)).flatten(2).transpose(1, 2)
        length = x.shape[1]
        x = torch.where(masked[..., None], mask_token.expand(n, length, d), x) + vision.pos_embed
        for blk in vision.blocks:
            x = blk(x)
        pred = head(vision.norm(x))
        target = F.unfold(px, kernel_size=p, stride=p).transpose(1, 2)  # (N, L, p*p)
        target = (target - target.mean(-1, keepdim=True)) / (target.std(-1, keepdim=True) + 1e-4)
        loss = ((pred - target) ** 2).mean(-1)[masked].mean()
        optimizer_step(opt, params, loss, clock, losses, log, "pretrain", show_lr=False)
    return {"steps": clock.step, "final_loss": final_mean(losses)}


def pretrain_concepts(model, pool: Pool, concepts: ConceptTargets, head: ConceptHead, stage: dict, seconds: float,
                      rng: random.Random, weight_decay: float, log, augment: dict | None = None,
                      gen: torch.Generator | None = None) -> dict:
    """Supervised vision pretraining: the study encoder (all of it, up to the K visual tokens) and the
    concept head learn the known facts of each study, before any text. Batches draw half their studies
    from the phantoms and half from the real images, so the rare synthetic pathways are not drowned."""
    keys = list(concepts.targets)
    groups = [[k for k in keys if k.startswith("phantom:")], [k for k in keys if not k.startswith("phantom:")]]
    groups = [g for g in groups if g]
    params = list(model.vision.parameters()) + list(head.parameters())
    opt = _optimizer(params, stage["lr"], weight_decay)
    clock = StageClock(seconds, stage.get("max_steps"), stage["lr"])
    losses: list[float] = []
    per_group = max(stage["batch_studies"] // len(groups), 1)
    while not clock.done():
        batch = [k for g in groups for k in rng.sample(g, min(per_group, len(g)))]
        patches: dict = {}
        feats = encode_studies(model, pool, batch, augment, gen, patches=patches, patch_keys=concepts.patches)
        optimizer_step(opt, params, concept_loss(concepts, head, feats, patches), clock, losses, log, "concepts")
    return {"steps": clock.step, "final_loss": final_mean(losses)}


class Batcher:
    """Tokenises (instruction, target) rows into right-padded ids with labels on the target only."""

    def __init__(self, tokenizer, num_image_tokens: int, max_target_tokens: int):
        self.tok = tokenizer
        self.k = num_image_tokens
        self.max_target = max_target_tokens
        self.pad = tokenizer.token_to_id("<pad>")
        self._prompt_cache: dict[str, list[int]] = {}

    def encode(self, instruction: str, target: str) -> tuple[list[int], int]:
        ids = self._prompt_cache.get(instruction)
        if ids is None:
            ids = self.tok.encode(chat(instruction, self.k), add_special_tokens=False).ids
            self._prompt_cache[instruction] = ids
        tgt = self.tok.encode(target, add_special_tokens=False).ids[: self.max_target - 1]
        tgt.append(self.tok.token_to_id(EOS))
        return ids + tgt, len(ids)

    def __call__(self, rows: list[tuple[str, str]]):
        enc = [self.encode(i, t) for i, t in rows]
        width = max(len(ids) for ids, _ in enc)
        ids = torch.full((len(enc), width), self.pad, dtype=torch.long)
        labels = torch.full((len(enc), width), -100, dtype=torch.long)
        attn = torch.zeros((len(enc), width), dtype=torch.long)
        for r, (seq, start) in enumerate(enc):
            ids[r, : len(seq)] = torch.tensor(seq)
            attn[r, : len(seq)] = 1
            labels[r, start: len(seq)] = torch.tensor(seq[start:])
        return ids, attn, labels


def encode_studies(model, pool: Pool, keys, augment: dict | None = None, gen: torch.Generator | None = None,
                   geometric: bool = True, patches: dict | None = None,
                   patch_keys=frozenset()) -> dict[str, torch.Tensor]:
    """The K visual tokens of each study in ``keys`` (encoded once each), augmented when ``augment`` is given.

    Studies in ``patch_keys`` also put their patch tokens into ``patches`` (for the dense finding loss);
    they are never moved geometrically, so their patch targets stay where the findings are."""
    device = model.embed_tokens.weight.device
    feats = {}
    for key in dict.fromkeys(keys):
        px, views, positions = _tensor(pool, key, device)
        dense = patches is not None and key in patch_keys
        if augment:
            px = augment_study(px, augment, gen, geometric and not dense)
        if dense:
            feats[key], patches[key] = model.vision(px, views, positions, return_patches=True)
        else:
            feats[key] = model.encode(px, views, positions)
    return feats


def concept_loss(concepts: ConceptTargets, head: ConceptHead, feats: dict, patches: dict) -> torch.Tensor | None:
    """Study-level concept loss plus the dense finding-patch loss, over whatever of the two applies."""
    parts = [x for x in (concepts.loss(head, feats), concepts.patch_loss(head, patches)) if x is not None]
    return sum(parts) if parts else None


def lm_loss(model, pool: Pool, batcher: Batcher, rows: list[tuple[str, str, str]],
            feats: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Next-token loss on the targets of rows (study key, instruction, target); each study encoded once."""
    device = model.embed_tokens.weight.device
    if feats is None:
        feats = encode_studies(model, pool, [k for k, _, _ in rows])
    ids, attn, labels = (t.to(device) for t in batcher([(i, t) for _, i, t in rows]))
    embeds = model.embed_tokens(ids)
    first = int((ids[0] == model.image_token_id).nonzero()[0, 0])
    k = batcher.k
    image = torch.stack([feats[key] for key, _, _ in rows]).to(embeds.dtype)
    embeds = torch.cat([embeds[:, :first], image, embeds[:, first + k:]], dim=1)
    positions = (attn.cumsum(-1) - 1).clamp(min=0)
    cache = [(k.to(device), v.to(device)) for k, v in model.decoder.empty_cache(ids.shape[0])]
    logits, _ = model.decoder(embeds, attn, positions, cache)
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)


def task_parts(task: str) -> list[str]:
    """The pool tasks behind one mixture key: "a+b" is tasks a and b under one share."""
    return task.split("+")


def has_boxes(task: str) -> bool:
    """True when a mixture key's rows may be boxes: augmentation must then never move the image."""
    return bool(GROUNDING_TASKS.intersection(task_parts(task)))


def rows_by_study(pool: Pool, mixture: dict[str, float]) -> dict[str, dict[str, list]]:
    """Mixture task -> study key -> its rows; a key "a+b" pools tasks a and b under one share, in that order.

    An unknown task name is a ConfigError (a typo would otherwise leave that share silently empty)."""
    unknown = sorted({part for task in mixture for part in task_parts(task)} - set(TASKS))
    if unknown:
        raise ConfigError(f"unknown task(s) {unknown} in the training mixture; tasks are {list(TASKS)}")
    by_study: dict[str, dict[str, list]] = {t: defaultdict(list) for t in mixture}
    for task in mixture:
        for part in task_parts(task):
            for key, ins, tgt in pool.samples.get(part, []):
                by_study[task][key].append((key, ins, tgt))
    return by_study


def study_sampler(studies: dict[str, list], by: str | None):
    """How a batch picks its studies from one task's ``studies`` (key -> rows): ``"study"`` (default, each study
    equally often: a VQA-RAD image with 10 questions as often as a SLAKE image with 22) or ``"rows"`` (in
    proportion to their rows, so that every row is drawn about equally often)."""
    keys = list(studies)
    if by in (None, "study"):
        return lambda rng: rng.choice(keys)
    if by == "rows":
        counts = [len(studies[k]) for k in keys]
        return lambda rng: rng.choices(keys, counts)[0]
    raise ConfigError(f"sample_studies_by must be 'study' or 'rows', not {by!r}")


def train_language(model, pool: Pool, batcher: Batcher, stage: dict, seconds: float, rng: random.Random,
                   weight_decay: float, mixture: dict[str, float], name: str, log, *, augment: dict | None = None,
                   gen: torch.Generator | None = None, concepts: ConceptTargets | None = None,
                   concept_head: ConceptHead | None = None, concept_weight: float = 0.0) -> dict:
    """Alignment / instruction tuning: each batch is one task drawn by ``mixture`` (so rows have similar
    lengths and little padding), made of whole studies with several rows per study. A mixture key
    "a+b" draws from the union of tasks a and b under one share. With ``augment`` the
    studies are augmented (no geometry for grounding rows); with ``concepts`` the concept loss of the
    batch's studies is added, times ``concept_weight``. With ``stage["ema_decay"]`` the model ends the
    stage with an exponential moving average of its weights over the stage's steps (see ``WeightEMA``).
    ``stage["vision_lr_scale"]`` (default 1) scales the study encoder's learning rate, so the stage can
    keep what the vision stages learnt while the decoder learns the tasks. ``stage["sample_studies_by"]``
    chooses how studies are drawn (``study_sampler``)."""
    by_study = rows_by_study(pool, mixture)
    tasks = [t for t in mixture if by_study[t]]
    pick = {t: study_sampler(by_study[t], stage.get("sample_studies_by")) for t in tasks}
    weights = [mixture[t] for t in tasks]
    use_concepts = concepts is not None and concept_head is not None and concept_weight > 0
    params = [p for p in model.parameters() if p.requires_grad]
    if use_concepts:
        params += list(concept_head.parameters())
    vision_scale = float(stage.get("vision_lr_scale", 1.0))
    if vision_scale < 0:
        raise ConfigError(f"{name}: vision_lr_scale must be 0 or more (got {vision_scale})")
    opt = _optimizer(params, stage["lr"], weight_decay, scaled=model.vision.parameters(), lr_scale=vision_scale)
    clock = StageClock(seconds, stage.get("max_steps"), stage["lr"])
    losses: list[float] = []
    concept_losses: list[float] = []
    ema = WeightEMA(model, float(stage["ema_decay"])) if stage.get("ema_decay") else None
    while not clock.done():
        rows = []
        task = rng.choices(tasks, weights)[0]  # one task per batch: similar lengths, little padding
        for _ in range(stage["batch_studies"]):
            key = pick[task](rng)
            mine = by_study[task][key]
            rows += rng.sample(mine, min(stage["rows_per_study"], len(mine)))
        patches: dict = {}
        feats = encode_studies(model, pool, [k for k, _, _ in rows], augment, gen, geometric=not has_boxes(task),
                               patches=patches if use_concepts else None,
                               patch_keys=concepts.patches if use_concepts else frozenset())
        loss = lm_loss(model, pool, batcher, rows, feats)
        if use_concepts:
            extra = concept_loss(concepts, concept_head, feats, patches)
            if extra is not None:
                concept_losses.append(float(extra.detach()))
                loss = loss + concept_weight * extra
        optimizer_step(opt, params, loss, clock, losses, log, name)
        if ema is not None:
            ema.update(model)
        if use_concepts and clock.step % 100 == 0 and concept_losses:
            log(f"{name} step {clock.step} concept loss {sum(concept_losses[-100:]) / len(concept_losses[-100:]):.4f}")
    out = {"steps": clock.step, "final_loss": final_mean(losses)}
    if ema is not None:
        ema.copy_to(model)
        out["ema_decay"] = ema.decay
    if concept_losses:
        out["final_concept_loss"] = final_mean(concept_losses)
    return out
