"""The prompt format, in one place, used by training and by inference.

A prompt is a chat turn whose visual part is ``K`` ``<image>`` placeholder tokens;
the engine replaces their embeddings with the study's K visual tokens (the
onnx-community "inputs_embeds splice")::

    <bos><|user|>\\n<image>...<image>\\n{instruction}<|assistant|>\\n{target}<eos>

Targets:

- report: ``FINDINGS: ...\\nIMPRESSION: ...``
- vqa: the answer text (English or Chinese, as asked)
- grounding ("where is X"): ``X <box>x0,y0,x1,y1</box>`` with integer corners in
  0..1000, normalised to the model-input image (``ModelInputs.pixel_values``) of
  view 0 or of view ``v`` when written ``<box>v:x0,y0,x1,y1</box>``; they are mapped
  back to original pixels through ``ModelInputs.transforms``.
"""

from __future__ import annotations

import re

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
IMAGE = "<image>"
USER, ASSISTANT = "<|user|>", "<|assistant|>"
#: Special tokens, in this order: their ids are 0..6 in every RadFound tokenizer.
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK, IMAGE, USER, ASSISTANT]
#: Ordinary added tokens (kept when decoding) used by grounding answers.
BOX_OPEN, BOX_CLOSE = "<box>", "</box>"
TEXT_TOKENS = [BOX_OPEN, BOX_CLOSE]
BOX_SCALE = 1000

_KIND_NAMES = {
    "cxr": "chest X-ray",
    "mammo": "mammography",
    "ct": "CT",
    "image": "radiology image",
}


def clean_user_text(text: str) -> str:
    """User text with any special-token spelling removed: a question cannot add image slots or role turns."""
    for token in SPECIAL_TOKENS:
        text = text.replace(token, " ")
    return text.strip()


def chat(instruction: str, num_image_tokens: int) -> str:
    """The user turn with the visual placeholders, ending where the assistant's text begins."""
    return f"{BOS}{USER}\n{IMAGE * num_image_tokens}\n{clean_user_text(instruction)}{ASSISTANT}\n"


def report_instruction(kind: str) -> str:
    return f"Write the findings and impression of this {_KIND_NAMES.get(kind, 'radiology')} study."


def report_prompt(kind: str, num_image_tokens: int) -> str:
    return chat(report_instruction(kind), num_image_tokens)


def vqa_prompt(question: str, num_image_tokens: int) -> str:
    return chat(question, num_image_tokens)


def grounding_prompt(target: str, num_image_tokens: int) -> str:
    return chat(f"Where is the {target.strip()}? Answer with boxes.", num_image_tokens)


def report_target(findings: str, impression: str) -> str:
    return f"FINDINGS: {findings.strip()}\nIMPRESSION: {impression.strip()}"


def training_text(prompt: str, target: str) -> str:
    """Full training sequence: the loss is taken on ``target`` and the final ``<eos>`` only."""
    return f"{prompt}{target}{EOS}"


_SECTION = re.compile(r"(FINDINGS|IMPRESSION)\s*:", re.IGNORECASE)


def parse_report(text: str) -> tuple[str, str]:
    """Split generated text into (findings, impression); text without headers is all findings."""
    parts = _SECTION.split(text)
    sections = {"FINDINGS": [], "IMPRESSION": []}
    if parts[0].strip():
        sections["FINDINGS"].append(parts[0].strip())
    for name, body in zip(parts[1::2], parts[2::2]):
        if body.strip():
            sections[name.upper()].append(body.strip())
    return " ".join(sections["FINDINGS"]), " ".join(sections["IMPRESSION"])


def format_box(label: str, x0: int, y0: int, x1: int, y1: int, view: int = 0) -> str:
    v = f"{view}:" if view else ""
    return f"{label} {BOX_OPEN}{v}{x0},{y0},{x1},{y1}{BOX_CLOSE}"


_BOX = re.compile(r"([^<>\n]*?)\s*<box>\s*(?:(\d+)\s*:)?\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*</box>")


def parse_boxes(text: str) -> list[tuple[str, int, float, float, float, float]]:
    """(label, view, x0, y0, x1, y1) for every well-formed box; corners in 0..1000, ordered and clipped."""
    out = []
    for m in _BOX.finditer(text):
        label = m.group(1).strip(" ,.;:") or "finding"
        view = int(m.group(2) or 0)
        x0, y0, x1, y1 = (min(max(float(m.group(i)), 0.0), BOX_SCALE) for i in range(3, 7))
        out.append((label, view, min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    return out


def strip_boxes(text: str) -> str:
    """The answer text with box markup removed (labels kept)."""
    return re.sub(r"\s*<box>[^<]*</box>", "", text).strip()
