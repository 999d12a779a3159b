"""The model side of the harness: encode a study once, then answer questions or draft reports.

Uses the shared runtime path (``radfound.engine``, ``radfound.tasks``); where one of those
modules has not landed yet it falls back to the engine's raw ``generate`` with the shared
prompt format, so the harness measures exactly what ``radfound ask`` / ``report`` produce.
"""

from __future__ import annotations

from pathlib import Path

from radfound.study.model import Study
from radfound.tasks.prompts import chat, parse_report, report_instruction, strip_boxes


class ModelPredictor:
    """Wraps a loaded model folder (``radfound.engine.load_model``)."""

    def __init__(self, model_dir: str | Path | None = None, device: str = "auto", max_new_tokens: int = 32,
                 closed: bool = True):
        from radfound.engine import load_model

        self.model = load_model(model_dir, device=device)
        self.max_new_tokens = max_new_tokens
        self.closed = closed  # English yes/no questions: choose Yes or No (radfound.tasks.vqa)
        self.name = f"{self.model.name} {self.model.version}".strip()

    def encode(self, study: Study):
        try:
            import radfound.preprocess as pre

            has_shared = hasattr(pre, "preprocess")
        except ImportError:
            has_shared = False
        if has_shared:
            return self.model.encode(study)
        from radfound.training.inputs import fallback_inputs  # numpy only; mirrors training before preprocess lands

        side = int(self.model.config["vision_config"]["image_size"])
        inp = fallback_inputs(study, side)
        enc = self.model.encode_inputs(inp.pixel_values, inp.view_ids, inp.positions, kind=study.kind)
        enc.study = study
        return enc

    def answer(self, encoded, question: str) -> str:
        try:
            from radfound.tasks.vqa import answer_question
        except ImportError:
            out = self.model.generate(encoded, chat(question, self.model.num_image_tokens),
                                      max_new_tokens=self.max_new_tokens)
            return strip_boxes(out.text).strip()
        return strip_boxes(answer_question(self.model, encoded, question, closed=self.closed,
                                          max_new_tokens=self.max_new_tokens).answer)

    def report(self, encoded, max_new_tokens: int = 160) -> str:
        try:
            from radfound.tasks.report import draft_report
        except ImportError:
            out = self.model.generate(encoded, chat(report_instruction(encoded.kind), self.model.num_image_tokens),
                                      max_new_tokens=max_new_tokens)
            findings, impression = parse_report(out.text)
            return f"FINDINGS: {findings}\nIMPRESSION: {impression}"
        d = draft_report(self.model, encoded, max_new_tokens=max_new_tokens)
        return f"FINDINGS: {d.findings}\nIMPRESSION: {d.impression}"

    def generate(self, encoded, instruction: str, max_new_tokens: int = 64) -> str:
        return self.model.generate(encoded, chat(instruction, self.model.num_image_tokens),
                                   max_new_tokens=max_new_tokens).text
