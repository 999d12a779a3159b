"""Report and caption metrics: BLEU-1..4, ROUGE-L, CIDEr and METEOR (pycocoevalcap).

These are the COCO caption evaluation implementations the field reports. BLEU,
ROUGE-L and CIDEr are pure Python. METEOR is METEOR 1.5 run through Java (the jar
ships inside pycocoevalcap): it is computed when a ``java`` executable is found and
reported as ``None`` with the reason in ``notes`` otherwise - never replaced by an
approximation. NLTK's METEOR was not used because it needs WordNet data that cannot
be downloaded at run time here. Text is tokenised by :func:`tokenize` (lowercase,
punctuation split off, as COCO's PTB tokenizer does) instead of the Java Stanford tokenizer.
"""

from __future__ import annotations

import re
import shutil

from radfound.errors import ConfigError
from radfound.eval.normalize import CJK_RANGES

_WORD = rf"[^\W_{CJK_RANGES}]+"  # letters and digits of any script (café, Sjögren), CJK apart
_TOKEN = re.compile(rf"{_WORD}(?:[.'-]{_WORD})*|[{CJK_RANGES}]")


def tokenize(text: str) -> str:
    """Lowercase words (and single CJK characters) joined by spaces; punctuation dropped, letters kept."""
    return " ".join(_TOKEN.findall(str(text).lower()))


def java_available() -> bool:
    return shutil.which("java") is not None


def caption_metrics(predictions: list[str], references: list[list[str] | str], *, meteor: bool | None = None) -> dict:
    """Corpus-level BLEU-1..4, ROUGE-L, CIDEr (and METEOR when Java is present) for aligned lists.

    ``references[i]`` is one reference string or a list of them for ``predictions[i]``.
    """
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.rouge.rouge import Rouge
    except ImportError:
        raise ConfigError("caption metrics need pycocoevalcap: pip install 'radfound[train]'") from None
    if len(predictions) != len(references):
        raise ValueError("predictions and references must have the same length")
    if not predictions:
        raise ValueError("no predictions to score")
    missing = next((i for i, refs in enumerate(references) if not isinstance(refs, str) and not refs), None)
    if missing is not None:
        raise ValueError(f"prediction {missing} has no reference")
    res = {i: [tokenize(p) or "<empty>"] for i, p in enumerate(predictions)}
    gts = {i: [tokenize(r) for r in ([refs] if isinstance(refs, str) else refs)] for i, refs in enumerate(references)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    out = {f"bleu_{n}": round(float(b), 4) for n, b in enumerate(bleu, start=1)}
    out["rouge_l"] = round(float(Rouge().compute_score(gts, res)[0]), 4)
    out["cider"] = round(float(Cider().compute_score(gts, res)[0]), 4)
    out["notes"] = []
    use_meteor = java_available() if meteor is None else meteor
    if use_meteor and java_available():
        from pycocoevalcap.meteor.meteor import Meteor

        scorer = Meteor()
        try:
            out["meteor"] = round(float(scorer.compute_score(gts, res)[0]), 4)
        finally:
            scorer.meteor_p.kill()
            scorer.meteor_p.wait()
    else:
        out["meteor"] = None
        out["notes"].append("METEOR not computed: it needs a Java runtime (METEOR 1.5 jar from pycocoevalcap)")
    out["n"] = len(predictions)
    return out
