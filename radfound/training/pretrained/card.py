"""radfound-base's MODEL_CARD.md, from the training config and summary (evaluation numbers: docs/evaluation.md)."""

from __future__ import annotations

from radfound.assembly.pins import PINS


def base_card(cfg: dict, summary: dict) -> str:
    v = cfg["model"]
    stages = "\n".join(f"| {s} | {summary[s]['steps']} | {summary[s]['final_loss']} | {summary[s]['minutes']} |"
                       for s in ("vision", "align", "instruct") if s in summary)
    parts = "\n".join(f"| {name} | `{pin.requirement}` `{pin.member}` | {pin.licence} | `{pin.sha256}` |"
                      for name, pin in PINS.items())
    return f"""# {cfg.get('name', 'radfound-base')} {cfg.get('model_version', '')}

> **Preliminary AI output only.** Every draft and answer is for a radiologist to verify, edit and sign.
> Research use, not a medical device.

A radiology vision-language model: an ImageNet-pretrained EfficientNet-Lite0 stem gives 7 x 7 local features
per view, a context layer lets the views of a study see each other, a resampler makes {v.get('preset')} 32
visual tokens, and SmolLM2-135M-Instruct (rank-8 LoRA on every projection, RadFound's 9 tokens added)
writes the text. Trained by `radfound train --config base` on a 2-core CPU (seed {cfg['seed']}).

## Parts and where they come from
| part | source | licence | sha256 |
|---|---|---|---|
{parts}
| vision encoder, LoRA adapters, norms, new token rows | trained here (this kit, committed) | Apache-2.0 | see manifest.json |

`radfound models build radfound-base` checks the pinned file's sha256, merges the adapters into it and writes
the ONNX graphs into the model store (about 270 MB on disk with the int8 decoder).

## Training data
VQA-RAD train part (CC0 1.0; held-out images never seen), SLAKE train split (CC BY 4.0, Liu et al. ISBI 2021;
English and Chinese questions, reports and captions derived from its labels, organ and lesion boxes) and
{summary.get('phantoms', {})} procedurally generated, labelled-synthetic phantoms (mammography, neck CT).
Training pool: {summary.get('pool')}. Real images seen: {summary.get('real_images')}.

| stage | steps | final loss | minutes |
|---|---|---|---|
{stages}

## Measured quality
On held-out data only (SLAKE validation, the VQA-RAD held-out part): see docs/evaluation.md, section
"radfound-base". The official test splits are measured independently.

## Memory
About 0.6 GB of RAM on CPU with the int8 decoder (weights 150 MB, token table 113 MB, vision 27 MB, KV cache).
"""
