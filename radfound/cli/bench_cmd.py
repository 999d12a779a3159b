"""``radfound bench``: engine speed (ORT vs PyTorch eager, same weights) and study-loading speed."""

from __future__ import annotations

import importlib.util
import json


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmark the engine (and study loading)",
                       description="Time to first token, decode ms/token, tokens/s and peak RSS for random-weight "
                       "tiny/small/base models, ONNX Runtime against PyTorch eager with the same weights in the same "
                       "run. Needs the 'train' extra (torch). See docs/benchmarks.md.")
    p.add_argument("--json", action="store_true", help="print JSON (keys ttft_ms, decode_ms_per_token, tokens_per_s, "
                   "peak_rss_mb, ort_vs_torch_speedup for the headline config, per-config details under 'configs')")
    p.add_argument("--quick", action="store_true", help="small only, fewer tokens and rounds (under a minute)")
    p.add_argument("--config", help="comma-separated configs (default tiny,small,base; small with --quick)")
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    p.add_argument("--model", default=None, help="benchmark this installed model (e.g. radfound-base) on the sample "
                   "chest X-ray instead: TTFT, decode ms/token, bandwidth floor; needs no torch")
    p.add_argument("--rounds", type=int, default=5, help="--model: timed drafts (medians are reported)")
    p.add_argument("--tokens", type=int, help="new tokens per generation, at least 2 (default 64; 32 with --quick, "
                   "8 for base)")
    b = p.add_argument_group("batch throughput (a local Orthanc, real CR studies; docs/scale-out.md)")
    b.add_argument("--batch", type=int, metavar="N", help="time a batch of N studies instead: query, retrieve, draft, "
                   "write and store each (needs Orthanc); studies/min for each --workers count")
    b.add_argument("--engine", choices=("local", "ray"), default="local", help="--batch: local threads or Ray actors")
    b.add_argument("--workers", default="1,2", help="--batch: comma-separated worker counts (default 1,2)")
    b.add_argument("--address", help="--batch --engine ray: the Ray cluster (default: a local Ray per run)")
    # --batch --config tiny|small|base: a random-weight model of that architecture (needs torch), which rarely stops
    # before --tokens, so the batch is bound by the model's compute rather than by I/O
    p.set_defaults(func=run)


def run(args) -> int:
    from radfound.errors import RadFoundError

    from radfound.benchmarks.engine import check_new_tokens

    check_new_tokens(args.tokens)  # before anything is built: --tokens 0 or 1 cannot give a decode speed
    if args.batch is not None:
        return _run_batch(args)
    if args.model:
        return _run_model(args)
    if importlib.util.find_spec("torch") is None:
        raise RadFoundError("bench compares against PyTorch eager: install the 'train' extra (torch)")
    from radfound.benchmarks import engine

    configs = [c.strip() for c in args.config.split(",")] if args.config else None
    unknown = [c for c in configs or [] if c not in ("tiny", "small", "base")]
    if unknown:
        raise RadFoundError(f"unknown config(s) {', '.join(unknown)}; choose from tiny, small, base")
    result = engine.run(args.quick, configs, args.device, args.tokens)
    study_load = None
    if importlib.util.find_spec("radfound.benchmarks.study_load") is not None:
        from radfound.benchmarks import study_load as study_load_module

        study_load = study_load_module.run(args.quick)
        result["study_load"] = study_load
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(engine.table(result))
    m = result["machine"]
    print(f"\nmachine: {m['cpu']} x{m['cpu_count']}, onnxruntime {m['onnxruntime']}, torch {m.get('torch', '-')}, "
          f"load average at start {m.get('load_average')}")
    if study_load is not None:
        print("study loading:", json.dumps(study_load))
    return 0


def _run_model(args) -> int:
    from radfound.benchmarks.model import bench_model
    from radfound.errors import ConfigError

    if args.rounds < 1:
        raise ConfigError(f"--rounds must be at least 1, not {args.rounds}")
    device = "cpu" if args.device == "auto" else args.device
    r = bench_model(args.model, device=device, new_tokens=args.tokens or 64, rounds=args.rounds)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"{r['model']} {r['version']} on {r['provider']} (vision {r['precision']['vision']}, decoder "
          f"{r['precision']['decoder']}), sample chest X-ray, {r['prompt_tokens']}-token prompt, "
          f"{r['new_tokens']} new tokens, medians of {r['rounds']}")
    print(f"  TTFT {r['ttft_ms']} ms (vision encoder {r['encode_ms']} ms)   decode {r['decode_ms_per_token']} ms/token "
          f"({r['tokens_per_s']} tokens/s)")
    print(f"  bandwidth floor {r['bandwidth_floor_ms']} ms/token ({r['decoder_weight_mb']} MB of decoder weights + "
          f"KV cache at {r['bandwidth_gbs']} GB/s): {100 * r['floor_fraction']:.0f}% of the floor   "
          f"peak RSS {r['peak_rss_mb']} MB")
    return 0


def _run_batch(args) -> int:
    from radfound.benchmarks import pacs
    from radfound.errors import ConfigError

    try:
        counts = [int(w) for w in args.workers.split(",")]
    except ValueError:
        counts = []
    if args.batch < 1 or not counts or min(counts) < 1:
        raise ConfigError(f"--batch takes a number of studies >= 1 and --workers whole numbers >= 1 "
                          f"(got --batch {args.batch} --workers {args.workers})")
    config = args.config if args.config in ("tiny", "small", "base") else None  # --batch --config: random weights
    if args.config and config is None:
        raise ConfigError(f"--batch --config takes one of tiny, small, base (got {args.config})")
    results = [pacs.run(args.batch, w, args.model, args.tokens or 64, config, engine=args.engine,
                        ray_address=args.address) for w in counts]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(f"{r['engine']} x{r['workers']} workers: {r['succeeded']}/{r['studies']} studies in "
                  f"{r['wall_s']} s = {r['studies_per_min']} studies/min ({r['studies_per_min_after_startup']} after "
                  f"{r['startup_s']} s of start-up; {r['model']}, {r['max_new_tokens']} new tokens max, "
                  f"{r['cpu_count']} CPUs, {r['srs_in_pacs']} SRs stored)")
    return 0 if all(r["failed"] == 0 and r["srs_in_pacs"] == r["succeeded"] for r in results) else 1
