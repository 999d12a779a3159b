"""Image-blind floors for every VQA number: the majority answer and a question-only prior.

Both are fitted on training questions only and never look at pixels, so a model that
does not beat them is not using the image.

- ``MajorityBaseline``: the most frequent normalised answer for the question's
  answer type and language (closed questions -> usually "yes"/"no").
- ``QuestionPrior``: the most frequent answer for the same normalised question
  text; else for the same question type (answer type, language and the first three
  normalised words, e.g. ``("OPEN", "en", "what modality is")``); else the majority.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Iterable

from radfound.eval.normalize import normalize_answer
from radfound.eval.vqa_file import VQAItem


def _question_key(item: VQAItem) -> str:
    return normalize_answer(item.question)


def _type_key(item: VQAItem) -> tuple[str, str, str]:
    words = normalize_answer(item.question)
    head = words[:3] if item.lang == "zh" else " ".join(words.split()[:3])
    return (item.answer_type, item.lang, head)


def _most_common(counter: Counter) -> str:
    # Ties break alphabetically so the baseline is deterministic whatever the file order.
    best = max(counter.values())
    return min(a for a, c in counter.items() if c == best)


class MajorityBaseline:
    name = "majority"

    def __init__(self, train: Iterable[VQAItem]):
        counts: dict[tuple[str, str], Counter] = defaultdict(Counter)
        overall: Counter = Counter()
        for it in train:
            counts[(it.answer_type, it.lang)][normalize_answer(it.answer)] += 1
            overall[normalize_answer(it.answer)] += 1
        if not overall:
            raise ValueError("a baseline needs at least one training question")
        self._by_type = {k: _most_common(c) for k, c in counts.items()}
        self._fallback = _most_common(overall)

    def predict(self, item: VQAItem) -> str:
        return self._by_type.get((item.answer_type, item.lang), self._fallback)


class QuestionPrior:
    name = "question_prior"

    def __init__(self, train: Iterable[VQAItem]):
        train = list(train)
        self._majority = MajorityBaseline(train)
        by_q: dict[str, Counter] = defaultdict(Counter)
        by_type: dict[tuple, Counter] = defaultdict(Counter)
        for it in train:
            ans = normalize_answer(it.answer)
            by_q[_question_key(it)][ans] += 1
            by_type[_type_key(it)][ans] += 1
        self._by_q = {k: _most_common(c) for k, c in by_q.items()}
        self._by_type = {k: _most_common(c) for k, c in by_type.items()}

    def predict(self, item: VQAItem) -> str:
        q = self._by_q.get(_question_key(item))
        if q is not None:
            return q
        t = self._by_type.get(_type_key(item))
        return t if t is not None else self._majority.predict(item)


BASELINES = {"majority": MajorityBaseline, "question_prior": QuestionPrior}
