"""The model side of the harness: encode a study once, then answer questions or draft reports.

Uses the shared runtime path (``radfound.engine``, ``radfound.tasks``), so the harness
measures exactly what ``radfound ask`` / ``report`` produce.
"""

from __future__ import annotations

from pathlib import Path

from radfound.study.model import Study
from radfound.tasks.prompts import chat, strip_boxes
from radfound.tasks.report import draft_report
from radfound.tasks.results import Answer
from radfound.tasks.vqa import answer_question


class ModelPredictor:
    """Wraps a loaded model folder (``radfound.engine.load_model``)."""

    def __init__(self, model_dir: str | Path | None = None, device: str = "auto", max_new_tokens: int = 32,
                 closed: bool = True):
        from radfound.engine import load_model

        self.model = load_model(model_dir, device=device)
        self.max_new_tokens = max_new_tokens
        self.closed = closed  # English closed questions: choose Yes/No or an offered option (radfound.tasks.vqa)
        self.name = f"{self.model.name} {self.model.version}".strip()

    def encode(self, study: Study):
        return self.model.encode(study)

    def answer(self, encoded, question: str) -> Answer:
        """The answer with boxes stripped from its text (closed answers keep their option probabilities)."""
        answer = answer_question(self.model, encoded, question, closed=self.closed, max_new_tokens=self.max_new_tokens)
        answer.answer = strip_boxes(answer.answer)
        return answer

    def report(self, encoded, max_new_tokens: int = 160) -> str:
        d = draft_report(self.model, encoded, max_new_tokens=max_new_tokens)
        return f"FINDINGS: {d.findings}\nIMPRESSION: {d.impression}"

    def generate(self, encoded, instruction: str, max_new_tokens: int = 64) -> str:
        return self.model.generate(encoded, chat(instruction, self.model.num_image_tokens),
                                   max_new_tokens=max_new_tokens).text
