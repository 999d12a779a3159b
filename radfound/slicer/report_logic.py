"""RadFoundReportLogic: draft a report for a volume node or a mammogram view set, with no GUI.

``RadFoundReportLogic().draft(volumeNode)`` blocks and returns a Draft (batch scripts,
tests, the Python console). With ``blocking=False`` it returns a started ``Job``
whose events the module widget drains on the main thread. ``save`` writes the
(edited) draft into the scene and logs the human-evaluation entry.
"""

from __future__ import annotations

from radfound import feedback
from radfound.slicer import nodes
from radfound.slicer.jobs import Job
from radfound.slicer.models import get_model
from radfound.slicer.study_from_scene import study_from_view_set, study_from_volume_node
from radfound.study.model import MAMMO_VIEWS, Study
from radfound.tasks.results import Draft


class RadFoundReportLogic:
    """Report drafting for Slicer volume nodes. ``model``: registry name or folder (None: shipped default)."""

    def __init__(self, model: str | None = None, device: str = "auto", **generation):
        self.model_name = model
        self.device = device
        self.generation = generation  # defaults for every call (e.g. max_new_tokens); a call's arguments win
        #: The warnings of the study last drafted (the reader's, and the model's once it has encoded it).
        self.warnings: list[str] = []
        #: the last draft, the study it was drafted from, its encoding, the model that made it, the prior study
        self._drafted: tuple | None = None

    @property
    def model(self):
        return get_model(self.model_name, self.device)

    def study(self, volumeNode=None, kind: str | None = None, view_set: dict | None = None) -> Study:
        """Read the input from the scene (main thread only): a mammogram view set or one volume."""
        if view_set:
            return study_from_view_set(view_set)
        return study_from_volume_node(volumeNode, kind=kind)

    def drafted_study(self, draft: Draft) -> Study | None:
        """The Study ``draft`` was drafted from (with the warnings the model added), if it is the last draft."""
        drafted = self._drafted
        return drafted[1] if drafted is not None and drafted[0] is draft else None

    def drafted_prior(self, draft: Draft) -> Study | None:
        """The prior study ``draft`` was compared with, if it is the last draft and had one."""
        drafted = self._drafted
        return drafted[4] if drafted is not None and drafted[0] is draft else None

    def draft(self, volumeNode=None, kind: str | None = None, view_set: dict | None = None, *,
              on_text=None, blocking: bool = True, compare: bool = False, prior_node=None, **gen) -> Draft | Job:
        """Draft a report. Blocking: returns the Draft. Non-blocking: returns a started Job (events via poll).
        ``compare``: add a Comparison with ``prior_node`` (the patient's prior image; None: "No prior available",
        radfound.tasks.compare); the prior is drafted by the same model after the current draft has streamed."""
        from radfound.tasks.report import draft_report

        study = self.study(volumeNode, kind, view_set)
        prior = self.study(prior_node, study.kind) if compare and prior_node is not None else None
        self.warnings = study.warnings  # the same list: the model adds to it while encoding

        def work(stream, cancel):
            model = self.model
            encoded = model.encode(study)  # kept: Save adds this encoding to the similar-case index
            draft = draft_report(model, encoded, on_text=stream, cancel=cancel, **{**self.generation, **gen})
            if compare:
                from radfound.tasks.compare import compare_drafts, comparison_text

                changes = [] if prior is None else compare_drafts(
                    draft, draft_report(model, prior, cancel=cancel, **{**self.generation, **gen}), study.kind)
                draft.comparison = comparison_text(None if prior is None else prior_node.GetName(), changes)
                draft.changes = [c.to_json() for c in changes]
            self._drafted = (draft, study, encoded, model, prior)
            return draft

        job = Job(work, name="radfound-draft").start()
        if not blocking:
            return job
        return job.follow(on_text)  # streams to on_text on the caller's thread

    def save(self, draft: Draft, volumeNode, edited_text: str | None = None, *, rating: int | None = None,
             view_set: dict | None = None, kind: str = "", log: bool = True, sr: bool = False,
             sr_folder: str | None = None, similar: bool = False, prior_reports=()) -> dict:
        """Put the draft in the scene (text, findings table, markups), log generated vs edited text, and
        (``sr``, as the panel's Save does; off for scripts, whose outputs go where they say) write the saved
        text as a DICOM SR beside the source images.

        The SR keys of the result: ``sr`` (its path, or None), ``sr_in_database`` (indexed into Slicer's
        DICOM database) and ``sr_note`` (why there is none: the image did not come from DICOM...). The scene
        save does not depend on the SR. With ``similar`` (the panel's Save) the study and the saved text join the
        drafting model's similar-case index (radfound.similar): ``similar`` in the result is the case's key, or
        None with ``similar_note`` saying why. ``prior_reports``: the compared prior's SRs (headers), referenced as
        Predecessor Documents (radfound.slicer.priors.database_reports)."""
        # Box view indices follow the Study's view order: the canonical mammogram order, missing views skipped.
        view_nodes = [view_set[c] for c in MAMMO_VIEWS if view_set.get(c) is not None] if view_set else None
        # The study as drafted keeps what the model added while encoding (a modality it was not trained on).
        study = self.drafted_study(draft)  # None: a draft from elsewhere
        saved = nodes.save_draft(draft, volumeNode, edited_text=edited_text, view_nodes=view_nodes,
                                 warnings=study.warnings if study is not None else ())
        if log:
            saved["feedback"] = feedback.record(
                draft.text, edited_text if edited_text is not None else draft.text,
                model=draft.model, model_version=draft.model_version, task="report", kind=kind, rating=rating,
            )
        from radfound.slicer import dicom_sr

        def write():
            source = study if study is not None else self.study(volumeNode, kind or None, view_set)
            return dicom_sr.save_draft_sr(draft, source, edited_text, sr_folder, prior=self.drafted_prior(draft),
                                          prior_reports=prior_reports)

        saved.update(dicom_sr.sr_result(write if sr else None))
        if similar:
            saved.update(self._index(draft, edited_text if edited_text is not None else draft.text))
        return saved

    def _index(self, draft: Draft, text: str) -> dict:
        """Add the drafted study with the saved text to the similar-case index; never fails the save."""
        drafted = self._drafted
        if drafted is None or drafted[0] is not draft:
            return {"similar": None, "similar_note": "not the last draft of this module"}
        from radfound.similar.cases import index_study

        _, study, encoded, model, _prior = drafted
        try:
            case = index_study(model, study, encoded=encoded, report=text, edited=True)
        except Exception as exc:  # noqa: BLE001 - the draft is saved; say why the index was not updated
            return {"similar": None, "similar_note": f"similar-case index not updated: {exc}"}
        return {"similar": case.key, "similar_note": None}
