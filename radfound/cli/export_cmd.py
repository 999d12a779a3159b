"""``radfound export CHECKPOINT OUTDIR``: a training checkpoint -> an ONNX model folder (needs torch)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("export", help="export a training checkpoint to an ONNX model folder",
                       description="Export a RadFound checkpoint (torch, weights-only) to the onnx-community "
                       "vision-language layout with a sha256 manifest. Needs the 'train' extra (torch, onnx).")
    p.add_argument("checkpoint", nargs="?", help="checkpoint file written by training (omit with --random)")
    p.add_argument("outdir", help="model folder to create")
    p.add_argument("--random", metavar="CONFIG", choices=("tiny", "small", "base"),
                   help="export a randomly initialised model of this config instead of a checkpoint")
    p.add_argument("--seed", type=int, default=0, help="seed for --random")
    p.add_argument("--fp16", action="store_true", help="also write *_fp16.onnx variants")
    p.add_argument("--int8", action="store_true", help="also write dynamically quantised *_quantized.onnx variants")
    p.add_argument("--drop-fp32", action="store_true",
                   help="ship only the --int8/--fp16 vision and decoder graphs (e.g. the default model's size budget)")
    p.add_argument("--reference-decoder", action="store_true",
                   help="trace the decoder with torch.onnx instead of building the fused GroupQueryAttention graph")
    p.add_argument("--average-with", nargs="+", metavar="CHECKPOINT", default=[],
                   help="export the uniform mean of CHECKPOINT's weights and these (a run and its continuation; "
                   "docs/evaluation.md)")
    p.add_argument("--model-version", help="version recorded in manifest.json")
    p.add_argument("--force", action="store_true", help="replace OUTDIR if it exists")
    p.set_defaults(func=run)


def run(args) -> int:
    from radfound.errors import RadFoundError

    try:
        from radfound.export.onnx_export import export_checkpoint, export_model
    except ImportError as exc:
        raise RadFoundError(f"export needs torch and onnx (pip install 'radfound[train]'): {exc}") from None
    opts = dict(fast_decoder=not args.reference_decoder, fp16=args.fp16, int8=args.int8,
                keep_fp32=not args.drop_fp32, overwrite=args.force)
    if args.random:
        if args.checkpoint:
            # with --random the single positional is the output folder
            raise RadFoundError("give either CHECKPOINT or --random, not both")
        if args.average_with:
            raise RadFoundError("--average-with needs a CHECKPOINT, not --random")
        from radfound.modeling.checkpoint import build_model

        model, tok = build_model(args.random, seed=args.seed)
        meta = {"model_version": args.model_version or "0.0.0-random",
                "provenance": {"training_data": "none: random initialisation", "seed": args.seed}}
        out = export_model(model, tok, args.outdir, meta=meta, **opts)
    else:
        if not args.checkpoint:
            raise RadFoundError("give a CHECKPOINT (or --random CONFIG)")
        meta = {"model_version": args.model_version} if args.model_version else {}
        out = export_checkpoint(args.checkpoint, args.outdir, meta=meta, average_with=args.average_with, **opts)
    print(f"exported {out}")
    return 0
