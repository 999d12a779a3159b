"""Decoding strategies over a step-wise decoder: greedy, sampling (temperature / top-k / top-p) and beam search.

Everything here is numpy; the decoder runner owns the KV cache. Options come
from the model's ``generation_config.json`` and can be overridden per call.
Repetition penalty follows the CTRL / HF rule (divide positive logits, multiply
negative ones) over the tokens generated so far.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields

import numpy as np

from radfound.engine.streaming import TextStream
from radfound.errors import GenerationCancelled, ModelError
from radfound.tasks.results import Timings


@dataclass
class GenerationConfig:
    max_new_tokens: int = 256
    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0  # 0: no top-k filtering
    top_p: float = 1.0
    num_beams: int = 1
    length_penalty: float = 1.0
    repetition_penalty: float = 1.0
    stop_strings: tuple[str, ...] = ()
    seed: int | None = None
    eos_token_id: int = 2
    pad_token_id: int = 0
    bos_token_id: int = 1

    @classmethod
    def from_dict(cls, defaults: dict, **overrides) -> "GenerationConfig":
        """``defaults`` (a generation_config.json) with ``overrides`` (None: keep the default); every value is
        checked (:func:`check_option`), so a bad one is a ModelError naming the option, never a numpy error."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(k for k in overrides if k not in names)
        if unknown:
            raise ModelError(f"unknown generation option(s): {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        if not isinstance(defaults, dict):
            raise ModelError(f"generation defaults must be a JSON object, not {type(defaults).__name__}")
        values = {k: v for k, v in defaults.items() if k in names}
        values.update({k: v for k, v in overrides.items() if v is not None})
        for key, value in values.items():
            values[key] = check_option(key, value)
        return cls(**values)


def is_int(value) -> bool:
    """A whole number (Python or numpy), not a bool: what a size, count or token id must be."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value) -> bool:
    """A finite number (Python or numpy), not a bool: JSON's NaN and Infinity literals are refused."""
    return (is_int(value) or isinstance(value, (float, np.floating))) and bool(np.isfinite(value))


def is_positive(value) -> bool:
    """A finite number > 0: a temperature, a penalty, a scale or a divisor."""
    return is_real(value) and value > 0


#: option -> (test, what a valid value is). seed may be None (unseeded); the token ids may be -1 (never stop).
_RULES: dict[str, tuple[Callable[[object], bool], str]] = {
    "max_new_tokens": (lambda v: is_int(v) and v >= 1, "a whole number >= 1"),
    "do_sample": (lambda v: isinstance(v, (bool, np.bool_)), "true or false"),
    "temperature": (is_positive, "a number > 0"),
    "top_k": (lambda v: is_int(v) and v >= 0, "a whole number >= 0 (0: no top-k filtering)"),
    "top_p": (lambda v: is_real(v) and 0 < v <= 1, "a number in (0, 1]"),
    "num_beams": (lambda v: is_int(v) and v >= 1, "a whole number >= 1"),
    "length_penalty": (is_real, "a finite number"),
    "repetition_penalty": (is_positive, "a number > 0 (1: no penalty)"),
    "seed": (lambda v: v is None or (is_int(v) and v >= 0), "a whole number >= 0"),
    "eos_token_id": (lambda v: is_int(v) and v >= -1, "a token id (-1: never stop)"),
    "pad_token_id": (lambda v: is_int(v) and v >= -1, "a token id"),
    "bos_token_id": (lambda v: is_int(v) and v >= -1, "a token id"),
}


def check_option(key: str, value):
    """``value`` for generation option ``key`` in the dataclass's type, or ModelError saying what is allowed."""
    if key == "stop_strings":
        if isinstance(value, str):
            return (value,)
        if isinstance(value, (list, tuple)) and all(isinstance(s, str) for s in value):
            return tuple(value)
        raise ModelError(f"invalid generation option stop_strings={value!r}: must be a string or a list of strings")
    test, allowed = _RULES[key]
    if not test(value):
        raise ModelError(f"invalid generation option {key}={value!r}: must be {allowed}")
    if key == "do_sample":
        return bool(value)
    if is_int(value):
        return int(value)
    return float(value) if isinstance(value, (float, np.floating)) else value


@dataclass
class Generated:
    token_ids: list[int]
    text: str
    timings: Timings = field(default_factory=Timings)
    stopped_by: str = "max_new_tokens"  # "eos", "stop_string" or "max_new_tokens"


StepFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
EmbedFn = Callable[[np.ndarray], np.ndarray]


def apply_repetition_penalty(scores: np.ndarray, previous: list[int], penalty: float) -> np.ndarray:
    if penalty == 1.0 or not previous:
        return scores
    scores = scores.copy()
    idx = np.unique(np.asarray(previous, dtype=np.int64))
    s = scores[idx]
    scores[idx] = np.where(s > 0, s / penalty, s * penalty)
    return scores


def sample_token(scores: np.ndarray, cfg: GenerationConfig, rng: np.random.Generator) -> int:
    """Temperature, then top-k, then nucleus (top-p) filtering, then one draw from the softmax."""
    logits = scores.astype(np.float64) / cfg.temperature
    if cfg.top_k and cfg.top_k < logits.shape[-1]:
        kth = np.partition(logits, -cfg.top_k)[-cfg.top_k]
        logits = np.where(logits < kth, -np.inf, logits)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    if cfg.top_p < 1.0:
        order = np.argsort(-probs, kind="stable")
        cum = np.cumsum(probs[order])
        keep = order[: int(np.searchsorted(cum, cfg.top_p) + 1)]
        filtered = np.zeros_like(probs)
        filtered[keep] = probs[keep]
        probs = filtered / filtered.sum()
    return int(rng.choice(probs.shape[-1], p=probs))


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def _start(decoder, capacity: int, beams: bool = False) -> None:
    """Reset the decoder's cache for one prompt; in-place runners preallocate ``capacity`` positions.
    ``beams``: the prompt's cache will be copied to several rows (beam search, answer scoring)."""
    if getattr(decoder, "needs_capacity", False):
        decoder.start(1, capacity=capacity, beams=beams)
    else:
        decoder.start(1)


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise GenerationCancelled("generation cancelled")


def generate(decoder, embed: EmbedFn, prompt_embeds: np.ndarray, cfg: GenerationConfig, stream: TextStream,
             cancel: threading.Event | None = None) -> Generated:
    """Greedy or sampled decoding with the KV cache; ``num_beams > 1`` goes to :func:`beam_search`."""
    if cfg.num_beams > 1:
        return beam_search(decoder, embed, prompt_embeds, cfg, stream, cancel)
    rng = np.random.default_rng(cfg.seed)
    t0 = time.perf_counter()
    _check(cancel)
    n = prompt_embeds.shape[1]
    _start(decoder, n + cfg.max_new_tokens)
    logits = decoder.step(prompt_embeds, np.ones((1, n), np.int64), np.arange(n, dtype=np.int64)[None])
    out: list[int] = []
    ttft = None
    stopped_by = "max_new_tokens"
    decode_steps = 0
    while True:
        scores = apply_repetition_penalty(logits[0], out, cfg.repetition_penalty)
        tok = sample_token(scores, cfg, rng) if cfg.do_sample else int(np.argmax(scores))
        if ttft is None:
            ttft = time.perf_counter() - t0
        if tok == cfg.eos_token_id:
            stopped_by = "eos"
            break
        out.append(tok)
        if stream.push(tok):
            stopped_by = "stop_string"
            break
        if len(out) >= cfg.max_new_tokens:
            break
        _check(cancel)
        length = decoder.length
        logits = decoder.step(embed(np.array([[tok]], np.int64)), np.ones((1, length + 1), np.int64),
                              np.array([[length]], np.int64))
        decode_steps += 1
    text = stream.finish()
    return Generated(out, text, _timings(t0, ttft, decode_steps, len(out)), stopped_by)


def score_continuations(decoder, embed: EmbedFn, prompt_embeds: np.ndarray, continuations: list[list[int]],
                        cancel: threading.Event | None = None) -> list[float]:
    """Total log-probability of each token sequence right after the prompt (closed-question answers).

    The prompt is prefilled once and its cache copied to one row per continuation (as beam search
    does); the rows then step together, shorter ones padded with their own last token, whose
    log-probabilities are never counted (attention is causal, so padding cannot change earlier ones)."""
    if not continuations or any(not ids for ids in continuations):
        raise ModelError("cannot score an empty continuation")
    _check(cancel)
    k, n = len(continuations), prompt_embeds.shape[1]
    longest = max(len(ids) for ids in continuations)
    _start(decoder, n + longest, beams=True)
    logits = decoder.step(prompt_embeds, np.ones((1, n), np.int64), np.arange(n, dtype=np.int64)[None])
    decoder.reorder(np.zeros(k, dtype=np.int64))
    logits = np.repeat(logits, k, axis=0)
    tokens = np.array([ids + ids[-1:] * (longest - len(ids)) for ids in continuations], np.int64)
    counted = np.array([[i < len(ids) for i in range(longest)] for ids in continuations])
    totals = np.zeros(k)
    for i in range(longest):
        totals += np.where(counted[:, i], log_softmax(logits)[np.arange(k), tokens[:, i]], 0.0)
        if i + 1 < longest:
            _check(cancel)
            length = decoder.length
            logits = decoder.step(embed(tokens[:, i:i + 1]), np.ones((k, length + 1), np.int64),
                                  np.full((k, 1), length, np.int64))
    return [float(t) for t in totals]


def beam_search(decoder, embed: EmbedFn, prompt_embeds: np.ndarray, cfg: GenerationConfig, stream: TextStream,
                cancel: threading.Event | None = None) -> Generated:
    """Beam search (early stopping once ``num_beams`` hypotheses ended); the text is streamed once, at the end."""
    nb = cfg.num_beams
    t0 = time.perf_counter()
    _check(cancel)
    n = prompt_embeds.shape[1]
    _start(decoder, n + cfg.max_new_tokens, beams=True)
    logits = decoder.step(prompt_embeds, np.ones((1, n), np.int64), np.arange(n, dtype=np.int64)[None])
    decoder.reorder(np.zeros(nb, dtype=np.int64))
    logits = np.repeat(logits, nb, axis=0)
    seqs: list[list[int]] = [[] for _ in range(nb)]
    beam_scores = np.full(nb, -np.inf)
    beam_scores[0] = 0.0  # all beams start identical: expand only the first
    finished: list[tuple[float, list[int]]] = []
    ttft = None
    decode_steps = 0
    for step in range(cfg.max_new_tokens):
        rows = np.stack([apply_repetition_penalty(logits[b], seqs[b], cfg.repetition_penalty) for b in range(nb)])
        total = beam_scores[:, None] + log_softmax(rows)
        vocab = total.shape[1]
        flat = total.ravel()
        top = np.argsort(-flat, kind="stable")[: 2 * nb]
        if ttft is None:
            ttft = time.perf_counter() - t0
        nxt: list[tuple[int, int, float]] = []
        for rank, idx in enumerate(top):
            b, tok = divmod(int(idx), vocab)
            if tok == cfg.eos_token_id:
                if rank < nb:
                    finished.append((float(flat[idx]) / max(len(seqs[b]), 1) ** cfg.length_penalty, seqs[b]))
                continue
            nxt.append((b, tok, float(flat[idx])))
            if len(nxt) == nb:
                break
        seqs = [seqs[b] + [tok] for b, tok, _ in nxt]
        beam_scores = np.array([s for _, _, s in nxt])
        if len(finished) >= nb or step == cfg.max_new_tokens - 1:
            break
        _check(cancel)
        decoder.reorder(np.array([b for b, _, _ in nxt], dtype=np.int64))
        length = decoder.length
        toks = np.array([[tok] for _, tok, _ in nxt], np.int64)
        logits = decoder.step(embed(toks), np.ones((nb, length + 1), np.int64), np.full((nb, 1), length, np.int64))
        decode_steps += 1
    ended = len(finished)  # the first ``ended`` candidates stopped at EOS, the rest at the token limit
    if len(finished) < nb:
        finished += [(float(s) / max(len(q), 1) ** cfg.length_penalty, q) for s, q in zip(beam_scores, seqs)]
    pick = max(range(len(finished)), key=lambda i: finished[i][0])
    best = finished[pick][1]
    stopped_by = "eos" if pick < ended else "max_new_tokens"
    for i, tok in enumerate(best):
        if stream.push(tok):
            best = best[: i + 1]
            stopped_by = "stop_string"
            break
    text = stream.finish()
    return Generated(best, text, _timings(t0, ttft, decode_steps, len(best)), stopped_by)


def _timings(t0: float, ttft: float | None, decode_steps: int, new_tokens: int) -> Timings:
    total = time.perf_counter() - t0
    ttft = ttft or total
    per_token = (total - ttft) / decode_steps if decode_steps else 0.0
    return Timings(
        ttft_ms=ttft * 1e3,
        decode_ms_per_token=per_token * 1e3,
        tokens_per_s=(1.0 / per_token) if per_token > 0 else 0.0,
        total_ms=total * 1e3,
        new_tokens=new_tokens,
    )
