"""RadFoundVQALogic: answer questions about a volume node, encoding the study once per image.

``RadFoundVQALogic().ask(volumeNode, question)`` blocks and returns an Answer. The
image features (``model.encode``) are computed on the first question about a node
and reused for every later one until the node's pixels, the kind or the model
change. Each node keeps its conversation, which ``save_conversation`` writes as a
text node in the study's RadFound folder and as a DICOM SR.
"""

from __future__ import annotations

from radfound.slicer import nodes
from radfound.slicer.jobs import Job
from radfound.slicer.models import get_model
from radfound.slicer.study_from_scene import detect_kind, node_key, study_from_view_set, study_from_volume_node
from radfound.tasks.results import Answer

#: Questions offered with one click, per study kind (what radiologists ask first).
PRESET_QUESTIONS: dict[str, tuple[str, ...]] = {
    "cxr": (
        "Is there a pleural effusion?",
        "Is the heart enlarged?",
        "Is there a pneumothorax?",
        "Is there a focal consolidation?",
        "Where is the abnormality?",
    ),
    "mammo": (
        "Is there a suspicious mass?",
        "Are there suspicious calcifications?",
        "What is the breast density?",
        "Which breast is abnormal?",
    ),
    "ct": (
        "Is there a lung nodule?",
        "Is there free fluid?",
        "Is there an intracranial haemorrhage?",
        "Which organ is abnormal?",
    ),
    "image": (
        "What modality is this image?",
        "Which organ is shown?",
        "Is this image normal?",
        "Where is the abnormality?",
    ),
}


class RadFoundVQALogic:
    """Visual question answering for Slicer volume nodes, with a per-node conversation."""

    def __init__(self, model: str | None = None, device: str = "auto", **generation):
        self.model_name = model
        self.device = device
        self.generation = generation  # defaults for every call (e.g. max_new_tokens); a call's arguments win
        self._encoded: dict[str, tuple[tuple, object]] = {}
        self._history: dict[str, list[Answer]] = {}
        self.encode_count = 0  # how many times image features were computed (tests prove reuse)

    @property
    def model(self):
        return get_model(self.model_name, self.device)

    @staticmethod
    def presets(kind: str) -> tuple[str, ...]:
        return PRESET_QUESTIONS.get(kind, PRESET_QUESTIONS["image"])

    def kind_of(self, volumeNode) -> str:
        return detect_kind(volumeNode)

    def _key(self, volumeNode, kind, view_set) -> tuple:
        nodes_ = list(view_set.values()) if view_set else [volumeNode]
        stamp = tuple((n.GetID(), n.GetImageData().GetMTime()) for n in nodes_)
        return (stamp, kind, str(self.model_name), self.device)

    def _prepare(self, volumeNode, kind, view_set):
        """On the main thread: the cached encoding, or a Study to encode in the worker."""
        key = self._key(volumeNode, kind, view_set)
        cached = self._encoded.get(node_key(volumeNode))
        if cached and cached[0] == key:
            return key, cached[1], None
        study = study_from_view_set(view_set) if view_set else study_from_volume_node(volumeNode, kind=kind)
        return key, None, study

    def ask(self, volumeNode, question: str, kind: str | None = None, view_set: dict | None = None, *,
            on_text=None, blocking: bool = True, **gen) -> Answer | Job:
        """Answer ``question``; the study is encoded once and reused. Non-blocking: returns a started Job."""
        from radfound.tasks.vqa import answer_question

        question = question.strip()
        if not question:
            from radfound.errors import ConfigError

            raise ConfigError("the question is empty")
        node_id = node_key(volumeNode)
        key, encoded, study = self._prepare(volumeNode, kind, view_set)

        def work(stream, cancel):
            enc = encoded
            if enc is None:
                enc = self.model.encode(study)
                self.encode_count += 1
                self._encoded[node_id] = (key, enc)
            options = {**self.generation, **gen}
            answer = answer_question(self.model, enc, question, on_text=stream, cancel=cancel, **options)
            self._history.setdefault(node_id, []).append(answer)
            return answer

        job = Job(work, name="radfound-ask").start()
        if not blocking:
            return job
        return job.follow(on_text)

    def history(self, volumeNode) -> list[Answer]:
        return list(self._history.get(node_key(volumeNode, create=False), []))

    def clear(self, volumeNode) -> None:
        self._history.pop(node_key(volumeNode, create=False), None)

    def save_conversation(self, volumeNode, *, sr: bool = False, sr_folder: str | None = None) -> dict:
        """The conversation about this node as a text node in the study's RadFound folder (``text``) and
        (``sr``, as the panel's Save does) as a DICOM SR beside the source images: ``sr`` (its path or None),
        ``sr_in_database``, ``sr_note`` (why there is none), as ``RadFoundReportLogic.save`` gives them."""
        from radfound.slicer import dicom_sr

        answers = self.history(volumeNode)

        cached = self._encoded.get(node_key(volumeNode, create=False))  # the study the answers are about
        study = cached[1].study if cached and cached[1].study is not None else None

        def write():
            return dicom_sr.save_conversation_sr(answers, study or study_from_volume_node(volumeNode), sr_folder)

        text = nodes.save_conversation(answers, volumeNode, warnings=study.warnings if study is not None else ())
        return {"text": text, **dicom_sr.sr_result(write if sr else None)}
