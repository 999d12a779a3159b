"""Write a model folder's MODEL_CARD.md from the training summary and the evaluation results.

``python -m radfound.training.model_card MODEL_DIR RUN_DIR EVAL_DIR`` writes the card and re-writes
``manifest.json`` so the card is one of the hashed files (the registry refuses unlisted files).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from radfound.config import PRELIMINARY_NOTICE
from radfound.registry.manifest import MANIFEST_NAME, read_manifest, write_manifest
from radfound.training.data import TRAINED_MODALITIES


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def vqa_rows(result: dict | None, lang: str | None = None) -> list[str]:
    """Markdown table rows (model, question prior, majority) of one eval-vqa JSON result."""
    if not result:
        return ["| (not measured) | | | | | |"]
    rows = []
    entries = [("RadFound-small", result.get("model"))] + [
        (name, (result.get("baselines") or {}).get(name)) for name in ("question_prior", "majority")
    ]
    for name, m in entries:
        if not m:
            continue
        if lang:
            m = (m.get("by_lang") or {}).get(lang, m)
        rows.append(f"| {name} | {_pct(m['overall'])} | {_pct(m['closed_acc'])} | {_pct(m['open_acc'])} | "
                    f"{_pct(m['open_recall'])} | {m['n']} |")
    return rows


def interval_lines(result: dict | None, lang: str | None = None) -> list[str]:
    """The model's 95% intervals (images resampled) under its table, and its paired gain over the prior."""
    m = (result or {}).get("model")
    if not m:
        return []
    gain = None if lang else m.get("closed_gain_over_prior")  # the gain is over all the file's languages
    if lang:
        m = (m.get("by_lang") or {}).get(lang, m)
    parts = [f"{name} {_pct(ci[0])}-{_pct(ci[1])}%" for name, ci in
             (("overall", m.get("overall_ci95")), ("closed", m.get("closed_acc_ci95"))) if ci]
    if not parts:
        return []
    line = "95% intervals for RadFound-small, images resampled: " + ", ".join(parts)
    if gain and gain.get("ci95"):
        line += (f"; closed accuracy {_pct(gain['diff'])} points above the question prior "
                 f"({_pct(gain['ci95'][0])} to {_pct(gain['ci95'][1])})")
    return ["", line + "."]


def text_row(name: str, t: dict | None) -> str:
    if not t:
        return f"| {name} | (not measured) | | | | | | |"
    f = lambda k: "-" if t.get(k) is None else f"{t[k]:.3f}"  # noqa: E731
    return f"| {name} | {f('bleu_1')} | {f('bleu_2')} | {f('bleu_3')} | {f('bleu_4')} | {f('rouge_l')} | {f('meteor')} | {f('cider')} |"


#: What the card says of the evaluation images: never seen, or (runs before the pretraining pool was limited
#: to the training questions' images) seen as pixels only, in masked image modelling.
UNSEEN = ("not trained on", "no question trained on; pixels seen in pretraining")
PIXELS_UNSEEN = ("The SLAKE validation split and the VQA-RAD held-out images were **not** used for training, not "
                 "even their pixels (every stage saw only the {n} images of the training questions), so the "
                 "validation numbers below are on unseen images; SLAKE test images were never used.")
PIXELS_SEEN = ("The questions of the SLAKE validation split and of the VQA-RAD held-out images were **not** used for "
               "training, **but their pixels were**: masked image modelling (stage 1, no text) ran on every VQA-RAD "
               "image, the 47 held-out ones included, plus one image that has no question here (it may belong to "
               "VQA-RAD's test split), and on the 96 SLAKE validation images. Recipes since then pretrain on the "
               "training questions' images only (docs/training.md). SLAKE test images were never used.")


def results_markdown(ev: Path, pixels_seen: bool = False) -> str:
    """The results section shared by the model card and docs/evaluation.md; ``pixels_seen``: the run pretrained
    on the evaluation images' pixels (``UNSEEN``)."""
    unseen = UNSEEN[pixels_seen]
    sv, vr = _load(ev / "slake_val.json"), _load(ev / "vqarad_heldout.json")
    mammo, ct, text, grd = (_load(ev / f"{n}.json") for n in ("mammo", "ct", "slake_text", "grounding"))
    head = "| | overall | closed | open | open recall | n |\n|---|---|---|---|---|---|"
    lines = [f"### SLAKE validation, English (1,053 questions; {unseen})", head, *vqa_rows(sv, "en"),
             *interval_lines(sv, "en"), "",
             "### SLAKE validation, Chinese", head, *vqa_rows(sv, "zh"), *interval_lines(sv, "zh"), "",
             f"### VQA-RAD held-out part of train (47 images, 472 questions; {unseen})", head, *vqa_rows(vr),
             *interval_lines(vr), ""]
    lines += ["### Phantom reports (synthetic, 100 fresh phantoms each, seed 9001)",
              "| set | side P | side R | side F1 | location F1 | exact study | all-normal baseline F1 |",
              "|---|---|---|---|---|---|---|"]
    for name, r in (("mammography 4-view", mammo), ("neck CT", ct)):
        if r:
            m, b = r["model"], r["baseline_normal_report"]
            lines.append(f"| {name} | {m['side']['precision']:.3f} | {m['side']['recall']:.3f} | {m['side']['f1']:.3f} | "
                         f"{m['location']['f1']:.3f} | {m['exact_study']:.3f} | {b['side']['f1']:.3f} |")
        else:
            lines.append(f"| {name} | (not measured) | | | | | |")
    spans = [f"{name} {ci[0]:.3f}-{ci[1]:.3f}" for name, r in (("mammography", mammo), ("neck CT", ct))
             if r and (ci := r["model"]["side"].get("f1_ci95"))]
    if spans:
        lines += ["", "95% intervals of side F1, phantoms resampled: " + ", ".join(spans) + "."]
    lines += ["", "### Text metrics", "| references | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | ROUGE-L | METEOR | CIDEr |",
              "|---|---|---|---|---|---|---|---|",
              text_row("mammo phantom reports", mammo and mammo["model"]["text"]),
              text_row("neck CT phantom reports", ct and ct["model"]["text"]),
              text_row("SLAKE val captions (derived)", text and text.get("captions")),
              text_row("SLAKE val reports (derived)", text and text.get("reports")), ""]
    if grd:
        lines += ["### Grounding: SLAKE validation boxes", f"{grd['boxes']} boxes on {grd['images']} images: "
                  f"IoU >= 0.5 for {_pct(grd['found_iou_0.5'])}%{_span(grd.get('found_iou_0.5_ci95'))}, "
                  f"mean best IoU {grd['mean_best_iou']}; "
                  f"{grd['questions_with_a_box']} answers contained a box.", ""]
    return "\n".join(lines)


def _span(ci) -> str:
    return f" (95% interval {_pct(ci[0])}-{_pct(ci[1])}%, images resampled)" if ci else ""


def _ema_text(decay) -> str:
    return f", ending on the moving average of its weights (decay {decay})" if decay else ""


def _recipe(config_path) -> str:
    """The command and config file of a run: ``--config NAME`` for a config shipped in the repository (the
    shipped ``small`` when the summary names none), else the file's path."""
    path = Path(config_path or "configs/small.json")
    if path.parent.name == "configs":
        return f"`radfound train --config {path.stem}` (radfound/training/configs/{path.name}"
    return f"`radfound train --config {path}` ({path}"


def write_card(model_dir: Path, run_dir: Path, ev: Path) -> Path:
    summary = _load(run_dir / "summary.json") or {}
    manifest = read_manifest(model_dir)
    counts = summary.get("phantoms") or {"mammo": "?", "ct": "?"}
    size = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file() and p.name != "MODEL_CARD.md")
    pixels_seen = "real_images" not in summary  # run before pretraining was cut to the training images
    config = _load(model_dir / "config.json") or {}
    vision, text = config.get("vision_config") or {}, config.get("text_config") or {}
    card = CARD.format(
        version=manifest.get("model_version", ""),
        recipe=_recipe(summary.get("config")), seed=summary.get("seed", "?"),
        image_size=vision.get("image_size", "?"), patch=vision.get("patch_size", "?"),
        vision_width=vision.get("hidden_size", "?"), vision_layers=vision.get("num_layers", "?"),
        image_tokens=config.get("num_image_tokens", "?"), text_width=text.get("hidden_size", "?"),
        text_layers=text.get("num_layers", "?"), heads=text.get("num_heads", "?"),
        kv_heads=text.get("num_kv_heads", "?"), vocab=f"{text.get('vocab_size', 0):,}",
        params=f"{summary.get('parameters', 0) / 1e6:.2f}",
        size=f"{size / 1e6:.1f}",
        minutes=summary.get("minutes", "?"),
        pretrain=summary.get("pretrain"), align=summary.get("align"), instruct=summary.get("instruct"),
        concepts=summary.get("concepts_stage"),
        ema=_ema_text((summary.get("instruct") or {}).get("ema_decay")),
        pool=summary.get("pool"),
        n_mammo=counts["mammo"], n_ct=counts["ct"],
        results=results_markdown(ev, pixels_seen),
        pixels=PIXELS_SEEN if pixels_seen else PIXELS_UNSEEN.format(n=summary["real_images"]),
        notice=PRELIMINARY_NOTICE,
        modalities=", ".join((manifest.get("provenance") or {}).get("modalities") or TRAINED_MODALITIES),
    )
    (model_dir / "MODEL_CARD.md").write_text(card, encoding="utf-8")
    meta = {k: v for k, v in manifest.items() if k != "files"}
    (model_dir / MANIFEST_NAME).unlink()
    write_manifest(model_dir, **meta)
    return model_dir / "MODEL_CARD.md"


CARD = """# RadFound-small {version}

> {notice}

**Intended use**: preliminary drafts of radiology findings/impressions and answers to questions
about chest X-rays, mammogram sets, CT volumes and other X-ray, CT and MR images (the DICOM modalities
it was trained on: {modalities}; RadFound warns on any other), for research and for a
radiologist to verify, edit and sign. **Not a medical device**; not validated for clinical use; not
for screening, triage or diagnosis without a radiologist. It is a small model trained for
{minutes} minutes on a 2-core CPU: expect frequent errors, and see the numbers below.

## Architecture
RadFound vision-language model (`radfound.modeling`), {params} M parameters, fp32 ONNX
(onnx-community layout: `onnx/vision_encoder.onnx`, `onnx/embed_tokens.onnx`,
`onnx/decoder_model_merged.onnx`), {size} MB in all:
ViT encoder ({image_size} px input; a convolutional stem of stride-2 3x3 convolutions makes one
token per {patch} px patch; width {vision_width}, {vision_layers} layers) run on every view / CT slab, a
per-image summary token (mean and projected max of its patches) with view and slab-position
embeddings and an inter-image context layer, a perceiver resampler to {image_tokens} visual tokens,
and a LLaMA-style decoder (width {text_width}, {text_layers} layers, grouped-query attention
{heads}/{kv_heads} heads, RoPE, SwiGLU) with a {vocab}-token byte-level BPE tokenizer (English and
Chinese). Preprocessing parameters
are in `preprocessor_config.json` (CT: 8 axial slabs).

## Training data and licences
- **VQA-RAD** (CC0 1.0; Lau et al., Sci Data 5:180251, 2018): the train split minus the 15% of
  images held out for evaluation (`radfound/eval/splits.py`).
- **SLAKE** (CC BY 4.0; Liu et al., "SLAKE: A Semantically-Labeled Knowledge-Enhanced Dataset for
  Medical Visual Question Answering", ISBI 2021): the **train** split only (English and Chinese
  questions; captions, reports and organ/lesion boxes derived from its annotations as documented in
  docs/training.md).
- {pixels}
- **Synthetic phantoms** (generated by `radfound/training/phantoms`): {n_mammo} four-view mammogram sets
  with masses and calcifications and {n_ct} neck CT volumes with thyroid nodules, with templated
  reports. **These are synthetic images, not patient data**: the mammography and CT report pathways
  have only ever seen phantoms, and their phantom scores say nothing about real mammograms or CT.

Training pool: {pool}.

## Recipe
{recipe}, seed {seed}), {minutes} min on a
2-core CPU: (1) masked image modelling on every training image and phantom view ({pretrain});
(2) supervised vision pretraining on the known facts of each study (SLAKE modality, region, organs,
normal/abnormal; phantom finding slots) and on which patches hold a phantom finding ({concepts});
(3) image-text alignment on captions and phantom reports ({align}); (4) instruction tuning on VQA,
captions, reports, grounding (SLAKE organ and lesion boxes, phantom mammogram boxes) and
phantom reports, the concept losses kept on at half weight ({instruct}){ema}. Every study is
augmented (scale, small rotation and shift, contrast; never flipped).
Steps and final losses are from `summary.json` of that run; docs/training.md has the details.

## Evaluation
Commands and definitions: docs/evaluation.md. Baselines are image-blind (fitted on the train
files minus the evaluated images). English yes/no questions are answered Yes or No, and English
choice questions ("left or right?") with one of the options they offer, by comparing the answers'
probabilities (as `radfound ask` does); other questions are generated greedily.

{results}
## Limitations
Tiny model, tiny data, short training: accuracy is far below published medical VLMs and below
the project's targets where the tables say so. It can answer confidently and wrongly; boxes are
coarse. Chinese answers are less reliable than English. Mammography and CT pathways are trained
only on synthetic phantoms. The validation splits are small (VQA-RAD held-out: 47 images), so
read the intervals beside the tables, not one figure. Runs of this recipe vary with the seed
(docs/evaluation.md lists them; one lost the CT pathway entirely): check a retrained model with
the steps in docs/training.md before it replaces this one.
"""


if __name__ == "__main__":
    model_dir, run_dir, ev = (Path(a) for a in sys.argv[1:4])
    print(write_card(model_dir, run_dir, ev))
