"""Convert a downloaded transformers model folder (MedGemma, Gemma 3, SmolVLM, Idefics3) to a RadFound model folder.

::

    python -m radfound.export.families HF_FOLDER OUTDIR [--name NAME] [--licence TEXT]

HF_FOLDER is a local snapshot (``config.json``, ``*.safetensors``, ``tokenizer.json``,
``preprocessor_config.json``, ``generation_config.json``); nothing is downloaded. Weights
are read from safetensors only. The result is the onnx-community layout plus a sha256
manifest, ready for ``radfound models import OUTDIR``. Needs torch and transformers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def convert(hf_folder: str | Path, outdir: str | Path, *, name: str | None = None, licence: str = "unknown") -> Path:
    from radfound.errors import ModelError

    src = Path(hf_folder)
    for required in ("config.json", "tokenizer.json", "preprocessor_config.json"):
        if not (src / required).is_file():
            raise ModelError(f"no {required}: not a transformers vision-language model folder", src)
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoConfig, AutoModelForImageTextToText

    from radfound.export.families import export_community

    config = AutoConfig.from_pretrained(src, local_files_only=True)
    model = AutoModelForImageTextToText.from_pretrained(src, config=config, dtype=torch.float32, local_files_only=True,
                                                        attn_implementation="eager", use_safetensors=True)
    preprocessor = json.loads((src / "preprocessor_config.json").read_text(encoding="utf-8"))
    tokenizer = Tokenizer.from_file(str(src / "tokenizer.json"))
    return export_community(model, tokenizer, outdir, image_processor=preprocessor, name=name or Path(outdir).name,
                            licence=licence, source=f"converted from {src.resolve()}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m radfound.export.families", description=__doc__.split("::")[0])
    p.add_argument("hf_folder")
    p.add_argument("outdir")
    p.add_argument("--name", help="model name recorded in the manifest (default: OUTDIR's name)")
    p.add_argument("--licence", default="unknown", help="licence of the weights, recorded in the manifest")
    args = p.parse_args(argv)
    from radfound.errors import RadFoundError

    try:
        out = convert(args.hf_folder, args.outdir, name=args.name, licence=args.licence)
    except RadFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"wrote {out}; install it with: radfound models import {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
