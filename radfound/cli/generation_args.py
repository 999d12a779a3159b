"""Options shared by the commands that run the model (report, ask): model folder, device, decoding."""

from __future__ import annotations

import argparse


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="DIR|NAME",
                   help="model folder or installed model name (default: the shipped radfound-small); "
                   "community folders (MedGemma/Gemma 3, SmolVLM/Idefics3) work too")
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto",
                   help="auto: CUDA when it really works, else CPU (default)")
    p.add_argument("--precision", choices=("auto", "fp32", "fp16", "int8"), default="auto",
                   help="graph variant to run (default auto: fp32 on CPU / fp16 on CUDA when present)")
    g = p.add_argument_group("decoding")
    g.add_argument("--max-new-tokens", type=int, help="stop after this many generated tokens")
    g.add_argument("--num-beams", type=int, help="beam search with this many beams (no streaming)")
    g.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    g.add_argument("--temperature", type=float)
    g.add_argument("--top-k", type=int)
    g.add_argument("--top-p", type=float)
    g.add_argument("--seed", type=int, help="seed for --sample (reproducible draws)")
    g.add_argument("--repetition-penalty", type=float)


def generation_kwargs(args: argparse.Namespace) -> dict:
    gen = {
        "max_new_tokens": args.max_new_tokens,
        "num_beams": args.num_beams,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "seed": args.seed,
        "repetition_penalty": args.repetition_penalty,
    }
    if args.sample:
        gen["do_sample"] = True
    return {k: v for k, v in gen.items() if v is not None}


def load(args: argparse.Namespace):
    from radfound.engine import load_model

    return load_model(args.model, device=args.device, precision=args.precision)


def add_study_args(p: argparse.ArgumentParser) -> None:
    """How the input is read: which series, and what the images are when the files cannot say."""
    p.add_argument("--series-uid", metavar="UID", help="use this DICOM series when a folder holds several")
    p.add_argument("--kind", choices=("cxr", "mammo", "ct", "image"),
                   help="say what the images are when the files cannot (e.g. --kind cxr for a chest X-ray JPEG)")


def read(args: argparse.Namespace, *, warn: bool = True):
    """The study named by ``args.paths``; its reader warnings go to stderr (the draft may depend on them)."""
    from radfound.study.reader import read_study

    paths = args.paths
    study = read_study(paths if len(paths) > 1 else paths[0], series_uid=args.series_uid, kind=args.kind)
    if warn:
        print_warnings(args, study.warnings)
    return study


def warn_after_run(args: argparse.Namespace, study, seen: int, result, what: str) -> None:
    """After the model ran: the warnings it added to the study (``seen`` were printed before: a modality it
    was not trained on comes from encoding) and whether the ``what`` ("draft", "answer") was cut off."""
    extra = list(study.warnings[seen:])
    if result.truncated:
        extra.append(f"the {what} stopped at the token limit ({result.timings.new_tokens} tokens) and may be cut "
                     "off; --max-new-tokens raises it")
    print_warnings(args, extra)


def print_warnings(args: argparse.Namespace, warnings: list[str]) -> None:
    """One ``radfound CMD: warning: ...`` line on stderr per warning."""
    import sys

    for warning in warnings:
        print(f"radfound {args.command}: warning: {warning}", file=sys.stderr)


def start_stream(args: argparse.Namespace):
    """With --stream (and not --json): print the preliminary notice now and return the per-token printer."""
    if not args.stream or args.json:
        return None
    from radfound.config import PRELIMINARY_NOTICE

    print(PRELIMINARY_NOTICE + "\n", flush=True)
    return lambda delta: print(delta, end="", flush=True)


def timing_line(model, timings, *, with_model: bool = True) -> str:
    """One line of timings, led by the model and provider unless the text above already names them."""
    lead = f"Model: {model.name} {model.version} ({model.provider}); " if with_model else "Timings: "
    if not timings.tokens_per_s:  # one token, or a yes/no answer chosen by scoring: no decode rate to show
        return f"{lead}encode {timings.encode_ms:.0f} ms, answer {timings.total_ms:.0f} ms"
    return (f"{lead}encode {timings.encode_ms:.0f} ms, first token {timings.ttft_ms:.0f} ms, "
            f"{timings.tokens_per_s:.1f} tokens/s, {timings.new_tokens} tokens")
