"""Read a VQA question file in the VQA-RAD or the SLAKE format into one record type.

- VQA-RAD: a JSON list of ``{image_name, question, answer, answer_type, ...}``.
- SLAKE: a JSON list of ``{img_name, question, answer, answer_type, q_lang, ...}``.

The format is recognised per record, so any split of either dataset (including
ones never seen in training) can be evaluated. Images are resolved against the
``images`` folder given by the user.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from radfound.errors import ConfigError, StudyReadError


@dataclass(frozen=True)
class VQAItem:
    """One question about one image, with its reference answer."""

    image: Path
    question: str
    answer: str
    answer_type: str  # "CLOSED" or "OPEN"
    lang: str = "en"
    qid: str = ""
    dataset: str = ""  # "vqa-rad" or "slake"
    question_type: str = ""  # VQA-RAD question_type (its first, upper-case) or SLAKE content_type; "" if unlabelled
    meta: dict = field(default_factory=dict, compare=False, hash=False)


def _item(rec: dict, images: Path, index: int, path: Path) -> VQAItem:
    if "img_name" in rec:
        name, dataset = rec["img_name"], "slake"
    elif "image_name" in rec:
        name, dataset = rec["image_name"], "vqa-rad"
    else:
        raise ConfigError(f"record {index} has neither 'image_name' (VQA-RAD) nor 'img_name' (SLAKE)", path)
    missing = [k for k in ("question", "answer") if k not in rec]
    if missing:
        raise ConfigError(f"record {index} lacks {', '.join(missing)}", path)
    answer_type = str(rec.get("answer_type", "")).upper()
    if answer_type not in ("CLOSED", "OPEN"):
        answer_type = "CLOSED" if str(rec["answer"]).strip().lower() in ("yes", "no") else "OPEN"
    meta = {k: v for k, v in rec.items() if k not in ("img_name", "image_name", "question", "answer")}
    return VQAItem(
        image=images / name,
        question=str(rec["question"]).strip(),
        answer=str(rec["answer"]).strip(),
        answer_type=answer_type,
        lang=str(rec.get("q_lang", "en")),
        qid=str(rec.get("qid", index)),
        dataset=dataset,
        question_type=_question_type(rec),
        meta=meta,
    )


def _question_type(rec: dict) -> str:
    """What the question asks about, as the dataset labels it: PRES, SIZE, ... (VQA-RAD), Organ, KG, ... (SLAKE).

    VQA-RAD lists several for some questions ("PRES, POS"): the first is kept, and case is unified.
    """
    raw = rec.get("question_type") if "question_type" in rec else rec.get("content_type")
    first = str(raw or "").split(",")[0].strip()
    return first.upper() if "image_name" in rec else first


def read_vqa_file(questions: str | Path, images: str | Path, *, lang: str | None = None) -> list[VQAItem]:
    """All records of ``questions`` (optionally one language), each with its image path under ``images``."""
    path, images = Path(questions), Path(images)
    if not path.is_file():
        raise ConfigError("question file not found", path)
    if not images.is_dir():
        raise ConfigError("image folder not found", images)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not a JSON question file ({exc})", path) from None
    if not isinstance(records, list):
        raise ConfigError("expected a JSON list of question records", path)
    items = [_item(rec, images, i, path) for i, rec in enumerate(records) if isinstance(rec, dict)]
    if lang:
        items = [it for it in items if it.lang == lang]
    absent = sorted({str(it.image) for it in items if not it.image.is_file()})
    if absent:
        raise StudyReadError(f"{len(absent)} image(s) referenced by {path.name} are missing, e.g. this one", absent[0])
    return items
