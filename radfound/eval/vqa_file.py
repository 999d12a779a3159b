"""Read a VQA question file in the VQA-RAD or the SLAKE format into one record type.

- VQA-RAD: a JSON list of ``{image_name, question, answer, answer_type, ...}``.
- SLAKE: a JSON list of ``{img_name, question, answer, answer_type, q_lang, ...}``.

The format is recognised per record, so any split of either dataset (including
ones never seen in training) can be evaluated. Images are resolved against the
``images`` folder given by the user and may not leave it. Every record is checked
when the file is read (a ConfigError names the file and the record): non-empty
image name and question, an answer that is text or a number, a question of at most
``MAX_QUESTION_CHARS``. A missing or unknown ``answer_type`` is CLOSED for a yes/no
answer (English or Chinese as SLAKE writes it: ``normalize.CLOSED_ANSWERS``), else OPEN; a
missing ``q_lang`` is zh for a question with Chinese characters, else en.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from radfound.errors import ConfigError, StudyReadError
from radfound.eval.normalize import is_cjk, is_closed_answer

#: Longest question accepted (characters): far beyond any dataset's, well inside a model's context.
MAX_QUESTION_CHARS = 1000


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
    name: str = ""  # the image as the file names it (``synpic54610.jpg``, ``xmlab1/source.jpg``)


def _text(rec: dict, key: str, index: int, path: Path, *, answer: bool = False) -> str:
    """A record's text field, else ConfigError. Answers may be numbers (VQA-RAD has a few) or empty (one SLAKE
    train record is), never a list, an object or null."""
    value = rec.get(key)
    if answer and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not (answer or value.strip()):
        kind = "a string" if answer else "a non-empty string"
        raise ConfigError(f"record {index}: '{key}' must be {kind} (got {value!r:.40})", path)
    return value.strip()


def _item(rec: dict, images: Path, index: int, path: Path) -> VQAItem:
    if "img_name" in rec:
        key, dataset = "img_name", "slake"
    elif "image_name" in rec:
        key, dataset = "image_name", "vqa-rad"
    else:
        raise ConfigError(f"record {index} has neither 'image_name' (VQA-RAD) nor 'img_name' (SLAKE)", path)
    name = _text(rec, key, index, path)
    image = images / name
    if not image.resolve().is_relative_to(images.resolve()):
        raise ConfigError(f"record {index}: image {name!r} is outside the image folder {images}", path)
    question = _text(rec, "question", index, path)
    if len(question) > MAX_QUESTION_CHARS:
        raise ConfigError(f"record {index}: the question is {len(question)} characters long "
                          f"(at most {MAX_QUESTION_CHARS})", path)
    answer = _text(rec, "answer", index, path, answer=True)
    answer_type = str(rec.get("answer_type", "")).strip().upper()  # VQA-RAD has two "CLOSED " with a space
    if answer_type not in ("CLOSED", "OPEN"):
        answer_type = "CLOSED" if is_closed_answer(answer) else "OPEN"
    lang = str(rec.get("q_lang") or "").strip().lower() or ("zh" if is_cjk(question) else "en")
    meta = {k: v for k, v in rec.items() if k not in ("img_name", "image_name", "question", "answer")}
    return VQAItem(
        image=image,
        question=question,
        answer=answer,
        answer_type=answer_type,
        lang=lang,
        qid=str(rec.get("qid", index)),
        dataset=dataset,
        question_type=_question_type(rec),
        meta=meta,
        name=Path(name).as_posix(),
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
        records = json.loads(path.read_text(encoding="utf-8-sig"))  # -sig: a byte-order mark is not an error
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not a JSON question file ({exc})", path) from None
    except OSError as exc:  # unreadable (permissions, an I/O error)
        raise ConfigError(f"cannot read the question file ({exc.strerror or exc})", path) from None
    if not isinstance(records, list):
        raise ConfigError("expected a JSON list of question records", path)
    if not records:
        raise ConfigError("the question file has no records", path)
    odd = next((i for i, rec in enumerate(records) if not isinstance(rec, dict)), None)
    if odd is not None:
        raise ConfigError(f"record {odd} is not a question record (a JSON object): {records[odd]!r:.40}", path)
    items = [_item(rec, images, i, path) for i, rec in enumerate(records)]
    if lang:
        lang = lang.strip().lower()  # q_lang is read lower-case: --lang EN is en
        found = sorted({it.lang for it in items})
        items = [it for it in items if it.lang == lang]
        if not items:
            raise ConfigError(f"no question has q_lang {lang!r} (the file has: {', '.join(found)})", path)
    absent = sorted({str(it.image) for it in items if not it.image.is_file()})
    if absent:
        raise StudyReadError(f"{len(absent)} image(s) referenced by {path.name} are missing, e.g. this one", absent[0])
    return items
