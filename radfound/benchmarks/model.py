"""Speed of a real, installed model on a real chest X-ray (``radfound bench --model radfound-base``; no torch).

Measured in this process, after one warm-up draft, as medians over ``rounds``:

- ``ttft_ms``: reading the sample radiograph is excluded; preprocessing, the vision encoder, the prefill of the
  report prompt and the first token are included (what a radiologist waits for after pressing Generate);
- ``decode_ms_per_token`` / ``tokens_per_s``: the single-token steps of a ``new_tokens`` generation with EOS
  disabled (so every round decodes the same number of steps);
- ``bandwidth_floor_ms``: the bytes one decode step must read (every decoder weight as stored, int8 blocks
  with their scales included, plus the KV cache at the mean context) over the memory bandwidth ORT reaches on
  the same provider (radfound.benchmarks.engine.measure_bandwidth_gbs); ``floor_fraction`` = floor / measured;
- ``peak_rss_mb``: peak resident memory of this process (the engine only).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path


def decoder_weight_bytes(model) -> int:
    """Bytes of the decoder graph's weights as stored (its .onnx plus any external data)."""
    path = Path(model.decoder_path)
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def bench_model(name_or_dir: str | None, *, device: str = "cpu", new_tokens: int = 64, rounds: int = 5,
                image: str | Path | None = None) -> dict:
    from radfound.benchmarks.engine import machine_info, measure_bandwidth_gbs, peak_rss_mb
    from radfound.config import RESOURCES_DIR
    from radfound.engine import load_model
    from radfound.engine.generation import GenerationConfig, generate
    from radfound.engine.streaming import TextStream
    from radfound.preprocess import PreprocessConfig, preprocess
    from radfound.study.reader import read_study
    from radfound.tasks.prompts import report_prompt

    t0 = time.perf_counter()
    model = load_model(name_or_dir, device=device)
    load_s = time.perf_counter() - t0
    study = read_study(Path(image or RESOURCES_DIR / "Samples" / "chest_xray_pa.jpg"))
    prompt = report_prompt("cxr", model.num_image_tokens)
    pre = PreprocessConfig.from_dict(model.preprocessor_config)

    def one_round(tokens: int) -> dict:
        t = time.perf_counter()
        inputs = preprocess(study, pre)
        enc = model.encode_inputs(inputs.pixel_values, inputs.view_ids, inputs.positions, kind="cxr")
        embeds = model.prompt_embeds(prompt, enc)
        before = (time.perf_counter() - t) * 1e3
        cfg = GenerationConfig(max_new_tokens=tokens, eos_token_id=-1)
        out = generate(model.decoder, model.embed, embeds, cfg, TextStream(model.tokenizer))
        return {"ttft_ms": before + out.timings.ttft_ms, "encode_ms": enc.encode_ms,
                "decode_ms_per_token": out.timings.decode_ms_per_token, "prompt_tokens": int(embeds.shape[1])}

    one_round(4)  # warm-up: allocations, kernel choice
    runs = [one_round(new_tokens) for _ in range(rounds)]
    med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    text = model.config["text_config"]
    hd = text["hidden_size"] // text["num_heads"]
    context = runs[0]["prompt_tokens"] + new_tokens // 2
    cache_bytes = 2 * text["num_layers"] * text["num_kv_heads"] * hd * context * 4
    weights = decoder_weight_bytes(model)
    bw = measure_bandwidth_gbs(model.provider)
    floor = (weights + cache_bytes) / (bw * 1e9) * 1e3
    decode = med("decode_ms_per_token")
    return {
        "model": model.name, "version": model.version, "provider": model.provider,
        "precision": {"vision": getattr(model, "vision_precision", model.precision), "decoder": model.precision},
        "load_s": round(load_s, 2), "prompt_tokens": runs[0]["prompt_tokens"], "new_tokens": new_tokens,
        "rounds": rounds, "ttft_ms": round(med("ttft_ms"), 1), "encode_ms": round(med("encode_ms"), 1),
        "decode_ms_per_token": round(decode, 2), "tokens_per_s": round(1e3 / decode, 1),
        "decoder_weight_mb": round(weights / 1e6, 1), "bandwidth_gbs": round(bw, 1),
        "bandwidth_floor_ms": round(floor, 2), "floor_fraction": round(floor / decode, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1), "machine": machine_info(),
        "all_rounds": [{k: round(v, 2) for k, v in r.items()} for r in runs],
    }
