"""``radfound train --config small [--out DIR] [--minutes N]``: the staged training recipe (needs torch)."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a RadFound model on the open data (VQA-RAD, SLAKE, phantoms)")
    p.add_argument("--config", default="small", help="training config name (small, base, tiny) or JSON file")
    p.add_argument("--out", type=Path, default=Path("runs/radfound-small"), help="output folder")
    p.add_argument("--minutes", type=float, default=None, help="wall-clock budget (overrides the config)")
    p.add_argument("--init", type=Path, default=None, help="continue from this checkpoint (weights and tokenizer)")
    p.add_argument("--no-export", action="store_true", help="stop at the checkpoint, do not export ONNX")
    p.add_argument("--export-only", action="store_true",
                   help="base recipe: export the latest stage checkpoint in --out (a kit and its built model)")
    p.set_defaults(func=run)


def run(args) -> int:
    from radfound.errors import DependencyError

    try:
        from radfound.training.config import load_train_config
        from radfound.training.pipeline import train
    except ImportError as exc:  # the runtime install has no torch (ci/setup without --train)
        raise DependencyError(f"training needs torch (bash ci/setup --train, or pip install 'radfound[train]'): "
                              f"{exc}") from None

    cfg = load_train_config(args.config)
    log_path = Path(args.out) / "train_log.txt"
    log_path.parent.mkdir(parents=True, exist_ok=True)

    with open(log_path, "a", encoding="utf-8") as fh:
        def log(msg: str) -> None:
            print(msg, flush=True)
            fh.write(msg + "\n")
            fh.flush()

        if cfg.get("recipe") == "pretrained":  # radfound-base: pretrained parts, resumable stages by steps
            from radfound.training.pretrained.recipe import export_base, train_base

            if args.export_only:
                export_base(cfg, args.out, log=log)
            else:
                train_base(cfg, args.out, export=not args.no_export, log=log)
        else:
            train(cfg, args.out, minutes=args.minutes, export=not args.no_export, init=args.init, log=log)
    return 0
