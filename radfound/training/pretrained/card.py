"""radfound-base's MODEL_CARD.md, from the training config, the run's summary and (when measured) ``eval.json``.

``eval.json`` in the run folder holds what ``docs/radfound-base.md`` lists under "Measured", written by hand
from the ``radfound eval`` outputs: ``{"metric name": "value (95% interval)", ...}`` and ``"date"``.
"""

from __future__ import annotations

from radfound.assembly.pins import PINS


def base_card(cfg: dict, summary: dict, measured: dict | None = None) -> str:
    v = cfg["model"]
    data = cfg["data"]
    stages = "\n".join(f"| {s} | {summary[s]['steps']} | {summary[s]['final_loss']} | {summary[s]['minutes']} |"
                       for s in ("vision", "align", "instruct") if s in summary)
    parts = "\n".join(f"| {name} | `{pin.requirement}`: `{pin.member}` | {pin.licence} | `{pin.sha256}` |"
                      for name, pin in PINS.items())
    rows = "\n".join(f"| {k} | {val} |" for k, val in (measured or {}).items() if k != "date")
    measured_text = (f"Measured {measured.get('date', '')} on splits the model never saw (neither questions nor "
                     f"pixels):\n\n| measure | value (95% interval, images resampled) |\n|---|---|\n{rows}\n"
                     if rows else "Not measured yet.\n")
    return f"""# {cfg.get('name', 'radfound-base')} {cfg.get('model_version', '')}

> **Preliminary AI output only.** Every draft and answer is for a radiologist to verify, edit and sign.
> Research use, not a medical device.

A radiology vision-language model in RadFound's design: an ImageNet-pretrained EfficientNet-Lite0 stem gives
7 x 7 local features per view (224 px), a context layer lets the views of a study see each other, a resampler
makes 32 visual tokens, and SmolLM2-135M-Instruct (rank-{v.get('lora_rank', 8)} LoRA on every projection, 9
RadFound tokens added) writes the text. Trained by `radfound train --config base` on a 2-core CPU, seed
{cfg['seed']}. Architecture preset `{v.get('preset')}` (radfound.modeling.configs).

## Parts and where they come from
| part | source | licence | sha256 |
|---|---|---|---|
{parts}
| vision encoder, LoRA adapters, decoder norms, new token rows | trained here (this kit, in git) | Apache-2.0 | manifest.json |

The EfficientNet weights are only the starting point of training: the trained encoder is in this kit.
`radfound models build radfound-base` checks the SmolLM2 file's sha256, merges the adapters into it with numpy
and writes the ONNX graphs into the user's model store: vision encoder (float32 compute, float16 storage),
token embedding table (float32) and decoder (8-bit weight blocks). About 280 MB on disk.

## Training data
- VQA-RAD (CC0 1.0), train.json, part `{data.get('vqarad_part', 'train')}`: the held-out 15% of images are never
  seen. Reports for its chest images are written from its yes/no presence questions.
- SLAKE (CC BY 4.0, Liu et al., ISBI 2021), split(s) {', '.join(data.get('slake_splits', ['train']))}: English
  and Chinese questions; captions, Findings/Impression reports that name each labelled disease with its side,
  and organ / lesion boxes, all derived from its labels.
- Procedurally generated phantoms, labelled synthetic: {summary.get('phantoms', data.get('phantoms_per_kind'))}.

Training pool (rows per task): {summary.get('pool', '-')}. Real images whose pixels training saw:
{summary.get('real_images', '-')}.

| stage | steps | final loss | minutes |
|---|---|---|---|
{stages}

## Measured
{measured_text}
The official VQA-RAD and SLAKE test splits are measured independently of this project.
Details, baselines and what did not work: docs/radfound-base.md.

## Limits
- Small data: 450 SLAKE and 267 VQA-RAD training images. Read every draft as a starting point.
- Mammography and neck CT were learnt from synthetic phantoms only.
- Chinese questions are answered, but the decoder's tokenizer was made for English (about two tokens per
  Chinese character).

## Memory
About 0.8 GB of RAM on a CPU (decoder 150 MB, token table 113 MB, vision encoder 40 MB once loaded, ONNX
Runtime's buffers); no GPU needed.
"""
