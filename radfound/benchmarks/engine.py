"""Engine benchmark: ONNX Runtime vs PyTorch eager with the same (random) weights, in the same run.

For each config (tiny, small, base) a model is built with seed 0, exported with
``radfound.export`` and measured on one chest-X-ray-sized input:

- ``ttft_ms``: one image -> vision encoder -> prefill of the report prompt -> first token;
- ``decode_ms_per_token`` / ``tokens_per_s``: mean of the single-token steps (EOS disabled);
- ``ort_vs_torch_speedup``: torch eager decode ms/token over ORT decode ms/token, the two
  measured alternately (paired rounds, medians) so machine load hits both alike; torch is
  timed with its default thread count and with 1 thread, and the faster one is compared;
- ``int8_*``: the same for the dynamically quantised decoder/vision variant (not the same
  weights: int8 MatMul weights, so a quarter of the bytes per token; reported separately);
- ``yes_no_ms``: an English yes/no question answered by scoring (``radfound.tasks.vqa``): the VQA
  prompt spliced with the encoded image, then the log-probability of each of the four spellings
  of Yes and No (the prompt prefilled once, its cache copied to four rows); compare with
  ``ttft_ms - encode_ms`` for a free answer's first token;
- ``peak_rss_mb``: peak resident memory of a fresh process that loads the model folder,
  encodes and generates (the engine alone, no torch);
- ``bandwidth_floor_ms``: bytes read per decode step (decoder weights + KV cache) over the
  memory bandwidth measured with an ORT ReduceSum on the same provider, and
  ``floor_fraction`` = floor / measured decode time (1.0 would be bandwidth-bound perfection).

Run ``radfound bench`` or ``python -m radfound.benchmarks.engine``; needs torch (the ``train`` extra).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROMPT_TEXT_TOKENS = 20  # a short report instruction after the K visual tokens


def machine_info() -> dict:
    import onnxruntime as ort

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "onnxruntime": ort.__version__, "platform": platform.platform()}
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    info["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY")
    info["radfound_threads"] = os.environ.get("RADFOUND_THREADS", "0")
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return info


def measure_bandwidth_gbs(provider: str, mbytes: int = 256, repeats: int = 5) -> float:
    """Memory read bandwidth (GB/s) ORT reaches on ``provider``: ReduceSum over a large float32 buffer,
    best of 1 thread and ORT's default thread count (no spinning), best of ``repeats``."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    n = mbytes * 1024 * 1024 // 4
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x"], ["y"], keepdims=0)], "bandwidth",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()
    providers = [provider] if provider == "CPUExecutionProvider" else [provider, "CPUExecutionProvider"]
    x = np.ones(n, np.float32)
    best = float("inf")
    for threads in (0, 1):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sess = ort.InferenceSession(model, opts, providers=providers)
        if provider == "CUDAExecutionProvider":
            value = ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0)
            binding = sess.io_binding()
            binding.bind_ortvalue_input("x", value)
            binding.bind_output("y", "cuda", 0)

            def once():
                sess.run_with_iobinding(binding)
        else:
            def once():
                sess.run(["y"], {"x": x})
        once()
        for _ in range(repeats):
            t = time.perf_counter()
            once()
            best = min(best, time.perf_counter() - t)
    return x.nbytes / best / 1e9


def bytes_per_decode_step(cfg: dict, context: int, bytes_per_value: int = 4) -> int:
    """Decoder weights (every layer + final norm + LM head) and the KV cache read for one new token."""
    t = cfg["text_config"]
    d, hd = t["hidden_size"], t["hidden_size"] // t["num_heads"]
    per_layer = d * hd * (t["num_heads"] * 2 + t["num_kv_heads"] * 2) + 3 * d * t["intermediate_size"] + 2 * d
    weights = t["num_layers"] * per_layer + d + d * t["vocab_size"]
    cache = 2 * t["num_layers"] * t["num_kv_heads"] * hd * context
    return bytes_per_value * (weights + cache)


def probe_provider(device: str) -> str:
    """The provider a session for ``device`` really runs on, found with a one-node graph: with the NVIDIA driver
    present but CUDA's libraries missing, ORT asked for CUDA runs on the CPU."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from radfound.engine.providers import requested_providers, running_provider

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return running_provider(ort.InferenceSession(model.SerializeToString(), opts,
                                                 providers=requested_providers(device)))


def bench_device(device: str) -> tuple[str, bool]:
    """(device to load with, whether that is the GPU): ``auto`` becomes ``cuda`` or ``cpu`` as CUDA really
    runs; ``cuda`` that cannot start is refused by the engine (ModelError)."""
    from radfound.engine.providers import CUDA

    if device != "auto":
        return device, device == "cuda"
    gpu = probe_provider(device) == CUDA
    return ("cuda" if gpu else "cpu"), gpu


def check_new_tokens(new_tokens: int | None) -> int | None:
    """``--tokens``: None (the config's default) or at least 2: decode speed needs a step after the first token."""
    from radfound.errors import ConfigError

    if new_tokens is not None and (not isinstance(new_tokens, int) or isinstance(new_tokens, bool) or new_tokens < 2):
        raise ConfigError(f"--tokens must be at least 2 (the first token comes from the prompt; decode speed is "
                          f"timed on the ones after it), not {new_tokens!r}")
    return new_tokens


# -- ORT side ---------------------------------------------------------------------------------------
def _ort_round(model, image: np.ndarray, prompt_ids: np.ndarray, new_tokens: int) -> dict:
    from radfound.engine.generation import GenerationConfig, generate
    from radfound.engine.streaming import TextStream

    t0 = time.perf_counter()
    enc = model.encode_inputs(image, [1], [0], kind="cxr")
    embeds = model.embed(prompt_ids)
    embeds[0, prompt_ids[0] == model.image_token_id] = enc.image_features
    cfg = GenerationConfig(max_new_tokens=new_tokens, eos_token_id=-1)  # never stop early
    encode_s = time.perf_counter() - t0
    out = generate(model.decoder, model.embed, embeds, cfg, TextStream(model.tokenizer))
    return {"ttft_ms": encode_s * 1e3 + out.timings.ttft_ms, "encode_ms": encode_s * 1e3,
            "decode_ms_per_token": out.timings.decode_ms_per_token}


def _ort_yes_no(model, image: np.ndarray) -> float:
    """Milliseconds for RadFoundModel.score over Yes/yes/No/no after an already encoded image."""
    from radfound.tasks.prompts import vqa_prompt
    from radfound.tasks.vqa import YES_NO

    enc = model.encode_inputs(image, [1], [0], kind="cxr")
    spellings = [s for forms in YES_NO.values() for s in forms]
    t0 = time.perf_counter()
    model.score(enc, vqa_prompt("Is the heart enlarged?", model.num_image_tokens), spellings)
    return (time.perf_counter() - t0) * 1e3


def _worker(model_dir: str, device: str, new_tokens: int) -> dict:
    """Fresh-process run for peak RSS: load, encode, generate; prints JSON."""
    from radfound.engine import load_model

    model = load_model(model_dir, device=device)
    image, ids = _inputs(model.config, model.image_token_id)
    r = _ort_round(model, image, ids, new_tokens)  # precision auto: fp16 on CUDA when exported
    r["peak_rss_mb"] = peak_rss_mb()
    r["provider"] = model.provider
    return r


def peak_rss_mb() -> float:
    """Peak resident memory of this process. VmHWM, because ru_maxrss survives exec and would report
    the benchmarking parent's peak (torch and all) for a freshly spawned worker."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _inputs(cfg: dict, image_token_id: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    s = cfg["vision_config"]["image_size"]
    k = cfg["vision_config"]["num_image_tokens"]
    text = rng.integers(7, min(cfg["text_config"]["vocab_size"], 500), PROMPT_TEXT_TOKENS).tolist()
    ids = np.array([[1, 5] + [image_token_id] * k + text + [6]], np.int64)
    return rng.standard_normal((1, 1, s, s)).astype(np.float32), ids


# -- torch side -------------------------------------------------------------------------------------
def _torch_round(tmodel, image: np.ndarray, prompt_ids: np.ndarray, new_tokens: int, threads: int) -> dict:
    import torch

    default_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _torch_generate(tmodel, image, prompt_ids, new_tokens)
    finally:
        torch.set_num_threads(default_threads)


def _torch_generate(tmodel, image, prompt_ids, new_tokens) -> dict:
    """Eager generation on the model's own device and dtype (int() of the argmax syncs a GPU every token)."""
    import torch

    weight = tmodel.embed_tokens.weight
    dev, dtype = weight.device, weight.dtype

    def t(x):
        return torch.as_tensor(x, device=dev)

    with torch.no_grad():
        t0 = time.perf_counter()
        feats = tmodel.encode(t(image).to(dtype), t([1]), t([0]))
        ids = t(prompt_ids)
        embeds = tmodel.splice(ids, feats)
        past = [(k.to(dev, dtype), v.to(dev, dtype)) for k, v in tmodel.decoder.empty_cache()]
        n = ids.shape[1]
        logits, past = tmodel.decoder(embeds, t(np.ones((1, n), np.int64)), t(np.arange(n)[None]), past)
        tok = int(logits[0, -1].argmax())
        ttft = time.perf_counter() - t0
        t1 = time.perf_counter()
        for _ in range(new_tokens - 1):
            length = past[0][0].shape[2]
            logits, past = tmodel.decoder(tmodel.embed_tokens(t([[tok]])), t(np.ones((1, length + 1), np.int64)),
                                          t([[length]]), past)
            tok = int(logits[0, -1].argmax())
        per = (time.perf_counter() - t1) / max(new_tokens - 1, 1)
    return {"ttft_ms": ttft * 1e3, "decode_ms_per_token": per * 1e3}


def bench_config(name: str, *, quick: bool, device: str = "auto", new_tokens: int | None = None,
                 rounds: int | None = None) -> dict:
    from radfound.engine import load_model
    from radfound.export.onnx_export import export_model
    from radfound.modeling.checkpoint import build_model

    new_tokens = check_new_tokens(new_tokens) or (8 if name == "base" else 32 if quick else 64)
    rounds = rounds or (1 if name == "base" else 2 if quick else 5)
    # On CUDA: the fp16 variant (ORT's CUDA GroupQueryAttention is fp16/bf16 only) against torch fp16 on the GPU.
    # Decided by the provider a session really runs, so a broken CUDA install benchmarks the CPU (fp32).
    device, gpu = bench_device(device)
    t0 = time.perf_counter()
    tmodel, tok = build_model(name, seed=0)
    with tempfile.TemporaryDirectory(prefix=f"radfound-bench-{name}-") as tmp:
        with_int8 = name != "base" and not gpu  # quantising 4 GB of weights is slow; base is a scale reference
        model_dir = export_model(tmodel, tok, Path(tmp) / name, int8=with_int8, fp16=gpu)
        export_s = time.perf_counter() - t0
        size_mb = sum(p.stat().st_size for p in (model_dir / "onnx").iterdir()
                      if "_quantized" not in p.name and "_fp16" not in p.name) / 1e6
        model = load_model(model_dir, device=device, precision="fp16" if gpu else "fp32")
        int8 = load_model(model_dir, device=device, precision="int8") if with_int8 else None
        image, ids = _inputs(model.config, model.image_token_id)
        _ort_round(model, image, ids, 4)  # warm-up (allocations, kernel selection)
        _ort_yes_no(model, image)  # the first 4-row scoring call pays for its allocations (base: 132-184 ms, then ~30)
        import torch

        if gpu and torch.cuda.is_available():
            tmodel = tmodel.half().cuda()
        threads = sorted({torch.get_num_threads(), 1}, reverse=True)  # torch's default, and 1 (less contention)
        for n in threads:
            _torch_round(tmodel, image, ids, 4, n)
        ort_runs, int8_runs, torch_runs, yes_no = [], [], {n: [] for n in threads}, []
        if int8 is not None:
            _ort_round(int8, image, ids, 4)
        for _ in range(rounds):  # alternate so that load on the machine affects both alike
            ort_runs.append(_ort_round(model, image, ids, new_tokens))
            yes_no.append(_ort_yes_no(model, image))
            if int8 is not None:
                int8_runs.append(_ort_round(int8, image, ids, new_tokens))
            for n in threads:
                torch_runs[n].append(_torch_round(tmodel, image, ids, new_tokens, n))
        config, provider = model.config, model.provider
        graph_steps = getattr(model.decoder, "graph_steps", None)  # CudaGraphDecoder: steps replayed
        del model, int8, tmodel  # free both copies of the weights before the isolated worker loads its own
        gc.collect()
        worker = subprocess.run(
            [sys.executable, "-m", "radfound.benchmarks.engine", "--worker", str(model_dir), "--device", device,
             "--tokens", str(new_tokens)], capture_output=True, text=True)
        if worker.returncode != 0:
            raise RuntimeError(f"benchmark worker failed: {worker.stderr.strip()[-500:]}")
        isolated = json.loads(worker.stdout.strip().splitlines()[-1])
    med = lambda runs, key: statistics.median(r[key] for r in runs)  # noqa: E731
    ort_decode = med(ort_runs, "decode_ms_per_token")
    torch_by_threads = {n: {"ttft_ms": round(med(r, "ttft_ms"), 2),
                            "decode_ms_per_token": round(med(r, "decode_ms_per_token"), 3)}
                        for n, r in torch_runs.items()}
    best = min(torch_by_threads, key=lambda n: torch_by_threads[n]["decode_ms_per_token"])
    torch_decode = torch_by_threads[best]["decode_ms_per_token"]
    torch_ttft = min(v["ttft_ms"] for v in torch_by_threads.values())
    context = ids.shape[1] + new_tokens // 2
    bw = measure_bandwidth_gbs(provider)
    value_bytes = 2 if gpu else 4
    floor_ms = bytes_per_decode_step(config, context, value_bytes) / (bw * 1e9) * 1e3
    t = config["text_config"]
    return {
        "config": name,
        "provider": provider,
        "cuda_graph": bool(graph_steps),
        "precision": "fp16" if gpu else "fp32",
        "decoder_params_m": round(bytes_per_decode_step(config, 0) / 4 / 1e6, 1),
        "onnx_mb": round(size_mb, 1),
        "layers": t["num_layers"], "hidden": t["hidden_size"], "visual_tokens": config["num_image_tokens"],
        "prompt_tokens": int(ids.shape[1]),
        "new_tokens": new_tokens,
        "rounds": rounds,
        "ttft_ms": round(med(ort_runs, "ttft_ms"), 2),
        "encode_ms": round(med(ort_runs, "encode_ms"), 2),
        "decode_ms_per_token": round(ort_decode, 3),
        "tokens_per_s": round(1e3 / ort_decode, 1),
        "yes_no_ms": round(statistics.median(yes_no), 2),
        "peak_rss_mb": round(isolated["peak_rss_mb"], 1),
        "torch_ttft_ms": torch_ttft,
        "torch_decode_ms_per_token": torch_decode,  # the faster of torch's default threads and 1 thread
        "torch_by_threads": torch_by_threads,
        "ort_vs_torch_speedup": round(torch_decode / ort_decode, 2),
        "ttft_speedup": round(torch_ttft / med(ort_runs, "ttft_ms"), 2),
        "int8_ttft_ms": round(med(int8_runs, "ttft_ms"), 2) if int8_runs else None,
        "int8_decode_ms_per_token": round(med(int8_runs, "decode_ms_per_token"), 3) if int8_runs else None,
        "int8_vs_torch_speedup": round(torch_decode / med(int8_runs, "decode_ms_per_token"), 2) if int8_runs else None,
        "bandwidth_gbs": round(bw, 1),
        "bandwidth_floor_ms": round(floor_ms, 3),
        "floor_fraction": round(floor_ms / ort_decode, 3),
        "build_and_export_s": round(export_s, 1),
    }


HEADLINE = ("ttft_ms", "decode_ms_per_token", "tokens_per_s", "peak_rss_mb", "ort_vs_torch_speedup")


def passive_omp_threads() -> None:
    """torch's OpenMP threads busy-wait after every op by default; on the shared 2-core VM that made torch
    eager 8x slower at 2 threads (89 vs 11 ms/token for small) and slowed the ORT rounds run beside it.
    Passive waiting (like the engine's non-spinning ORT threads) is the fair setting for both sides; it
    only takes effect if torch has not started its thread pool yet."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def run(quick: bool = False, configs: list[str] | None = None, device: str = "auto",
        new_tokens: int | None = None) -> dict:
    """Benchmark the given configs (default: small when quick, else tiny, small, base)."""
    check_new_tokens(new_tokens)
    passive_omp_threads()
    configs = configs or (["small"] if quick else ["tiny", "small", "base"])
    result: dict = {"machine": machine_info(), "quick": quick, "configs": {}}
    for name in configs:
        result["configs"][name] = bench_config(name, quick=quick, device=device, new_tokens=new_tokens)
    head = result["configs"].get("small") or next(iter(result["configs"].values()))
    result.update({k: head[k] for k in HEADLINE})
    result["headline_config"] = head["config"]
    return result


def table(result: dict) -> str:
    cols = ("config", "provider", "decoder_params_m", "ttft_ms", "torch_ttft_ms", "decode_ms_per_token",
            "torch_decode_ms_per_token", "ort_vs_torch_speedup", "int8_decode_ms_per_token", "int8_vs_torch_speedup",
            "tokens_per_s", "peak_rss_mb",
            "bandwidth_floor_ms", "floor_fraction")
    rows = [cols] + [tuple(str(r[c]).replace("ExecutionProvider", "") for c in cols)
                     for r in result["configs"].values()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(cols))]
    lines = [" | ".join(v.ljust(w) for v, w in zip(row, widths)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--tokens", type=int)
    p.add_argument("--device", default="auto")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--config", default=None)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker, args.device, args.tokens or 32)))
        return 0
    result = run(args.quick, args.config.split(",") if args.config else None, args.device, args.tokens)
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
