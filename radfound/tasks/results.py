"""What a task returns: a drafted report or an answer, always marked preliminary.

These are the objects the CLI prints, the Slicer modules show and save, and the
SR writer encodes. Boxes are in the pixel coordinates of the view they refer to.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from radfound.config import PRELIMINARY_NOTICE


def model_label(result: Draft | Answer) -> str:
    """How outputs name the model that wrote a draft or an answer: its name and version."""
    return f"{result.model} {result.model_version}".strip()


def percent(share: float) -> str:
    """A share as a whole percentage that never rounds to certainty: 0.996 is ">99%", 0.004 is "<1%"."""
    if share > 0.99:
        return ">99%"
    if share < 0.01:
        return "<1%"
    return f"{round(share * 100)}%"


def option_shares(answer: Answer) -> str:
    """How the model weighed the offered answers of a closed question ("model's preference: Yes 83%, No 17%;
    not a calibrated probability"), most preferred first; "" for a free-text answer.

    Why: "Yes" chosen at 51% and at 99% otherwise read the same. The shares are normalised over the offered
    answers only, so they say how the model ranked them, not how likely the finding is."""
    if not answer.options:
        return ""
    ranked = sorted(answer.options.items(), key=lambda kv: -kv[1])
    return "model's preference: " + ", ".join(f"{o} {percent(p)}" for o, p in ranked) + \
        "; not a calibrated probability"


#: What the text file and the SR say of a draft that stopped at the token limit (Draft.truncated).
TRUNCATED_NOTE = "The draft stopped at the model's token limit and may be cut off."


@dataclass
class Box:
    """A localised finding: [x0, y0, x1, y1] in pixels of view ``view_index`` (column x, row y)."""

    label: str
    x0: float
    y0: float
    x1: float
    y1: float
    view_index: int = 0


@dataclass
class Timings:
    encode_ms: float = 0.0
    ttft_ms: float = 0.0  # time to first generated token, including prefill
    decode_ms_per_token: float = 0.0
    tokens_per_s: float = 0.0
    total_ms: float = 0.0
    new_tokens: int = 0


@dataclass
class Draft:
    """A drafted report with its Findings and Impression sections."""

    findings: str
    impression: str
    model: str
    provider: str
    boxes: list[Box] = field(default_factory=list)
    structured: list[dict] = field(default_factory=list)  # [{"finding", "location", "present"}...]
    timings: Timings = field(default_factory=Timings)
    model_version: str = ""
    notice: str = PRELIMINARY_NOTICE
    #: Generation stopped at the token limit, not at the end of the report: the text may be cut off.
    truncated: bool = False
    #: Compare with prior (radfound.tasks.compare): the Comparison section ("" when no comparison was asked for)
    #: and the per-finding changes.
    comparison: str = ""
    changes: list[dict] = field(default_factory=list)

    @property
    def text(self) -> str:
        head = f"COMPARISON:\n{self.comparison}\n\n" if self.comparison else ""
        return f"{head}FINDINGS:\n{self.findings}\n\nIMPRESSION:\n{self.impression}"

    def to_json(self) -> dict:
        d = asdict(self)
        d["report"] = self.text
        return d


@dataclass
class Answer:
    """An answer to one question about a study."""

    question: str
    answer: str
    model: str
    provider: str
    boxes: list[Box] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    model_version: str = ""
    notice: str = PRELIMINARY_NOTICE
    #: For a closed question answered by probability: each offered answer's probability, normalised over
    #: the offered answers (so Yes/No sum to 1). Empty for a free-text answer.
    options: dict[str, float] = field(default_factory=dict)
    #: A free-text answer that stopped at the token limit, not at its end: it may be cut off.
    truncated: bool = False

    def to_json(self) -> dict:
        return asdict(self)
