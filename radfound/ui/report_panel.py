"""The RadFoundReport panel: Generate streams a draft into an editable box; Save puts it in the scene and a DICOM SR.

Generate becomes Cancel while the model runs in a worker thread; a QTimer on the
main thread applies the streamed text. The draft is always shown under the
preliminary notice, with the execution provider that actually ran it.
"""

from __future__ import annotations

from radfound.slicer.mammo_views import assemble_view_set
from radfound.slicer.report_logic import RadFoundReportLogic
from radfound.study.model import MAMMO_VIEWS
from radfound.ui.inputs import volume_nodes
from radfound.ui.job_panel import JobPanel
from radfound.ui.messages import saved_message
from radfound.ui.qt import QtGui, child, prop

NO_PRIOR_ITEM = "(no prior: the draft says so)"
_VIEW_COMBOS = dict(zip(MAMMO_VIEWS, ("lccComboBox", "lmloComboBox", "rccComboBox", "rmloComboBox")))


class ReportPanel(JobPanel):
    """Controller of a loaded ``RadFoundReport.ui`` widget."""

    run_label = "Generate draft"

    def __init__(self, widget, scene, logic: RadFoundReportLogic | None = None, show_error=None, before_run=None,
                 confirm=None, database=None, load_series=None):
        """``database`` / ``load_series``: Slicer's DICOM database and how to load one of its series (default:
        the application's; radfound.slicer.priors), where Compare with prior looks for a prior not loaded yet."""
        from radfound.slicer import priors

        self.database = database if database is not None else priors.app_database()
        self.load_series = load_series or priors.load_series
        super().__init__(widget, scene, logic or RadFoundReportLogic(), "generateButton", show_error, before_run,
                         confirm)
        self.generate_button = self.run_button
        self.text = child(widget, "draftTextEdit")
        self.save_button = child(widget, "saveButton")
        self.rating = child(widget, "ratingComboBox")
        self.mammo_box = child(widget, "mammoGroupBox")
        self.view_combos = {code: child(widget, name) for code, name in _VIEW_COMBOS.items()}
        self.compare = child(widget, "compareCheckBox")
        self.prior_combo = child(widget, "priorComboBox")
        self.compare.toggled.connect(lambda *_: self.refresh_prior())
        self.rating.addItem("(no rating)", 0)
        for score in range(1, 6):
            self.rating.addItem(str(score), score)
        self.draft = None
        self.draft_node = None  # the node, view set and study kind the current draft belongs to
        self.draft_views = None
        self.draft_kind = None
        self.unsaved_edit = False  # the user changed the draft's text since it was generated or saved
        self._shown_views: dict[str, str | None] = {}  # {view code: ID of the image its combo shows}
        self.generate_button.clicked.connect(lambda *_: self.on_generate())
        self.save_button.clicked.connect(lambda *_: self.on_save())
        self.text.textChanged.connect(lambda *_: self._edited())
        for code, combo in self.view_combos.items():
            combo.currentIndexChanged.connect(lambda index, *_, code=code: self._view_chosen(code))
        self.inputs.listeners.append(self.refresh_views)
        self.inputs.listeners.append(self.refresh_prior)
        self.refresh_views()
        self.refresh_prior()

    # ---- inputs -------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Call when the scene's volumes change."""
        self.inputs.refresh_models()
        self.inputs.refresh_volumes()
        self.refresh_views()

    def refresh_views(self) -> None:
        """Show the mammogram view set (auto-assembled) when the study kind is mammo."""
        is_mammo = self.inputs.kind() == "mammo"
        self.mammo_box.setVisible(is_mammo)
        node = self.inputs.node()
        if not is_mammo or node is None:
            return
        assembled = assemble_view_set(node)
        for code, combo in self.view_combos.items():
            combo.blockSignals(True)
            combo.clear()
            combo.addItem("(missing)", "")
            for candidate in volume_nodes(self.scene):
                combo.addItem(candidate.GetName(), candidate.GetID())
            chosen = assembled.get(code)
            combo.setCurrentIndex(combo.findData(chosen.GetID()) if chosen is not None else 0)
            combo.blockSignals(False)
            self._shown_views[code] = chosen.GetID() if chosen is not None else None

    def _view_chosen(self, code: str) -> None:
        """A view picked by hand is stored on its image (``RadFound.View``) so that refreshing keeps it; the
        image picked before for that view loses its hand-made code. "(missing)" takes the image shown
        before out of the set, so that its tags or name do not put it back on refresh."""
        from radfound.slicer.mammo_views import set_view_override, take_out, view_override

        combo = self.view_combos[code]
        node_id = combo.itemData(prop(combo, "currentIndex"))
        node = self.scene.GetNodeByID(node_id) if node_id else None
        for other in volume_nodes(self.scene):  # the image that held this view by hand no longer does
            if other is not node and view_override(other) == code:
                set_view_override(other, None)
        previous_id = self._shown_views.get(code)
        previous = self.scene.GetNodeByID(previous_id) if previous_id else None
        if node is not None:
            set_view_override(node, code)
        elif previous is not None and previous_id not in self._shown_views_except(code):
            take_out(previous)
        self._shown_views[code] = node_id or None

    def _shown_views_except(self, code: str) -> set:
        """IDs of the images the other view combos show."""
        return {node_id for other, node_id in self._shown_views.items() if other != code and node_id}

    def refresh_prior(self) -> None:
        """With *Compare with prior* ticked: every other loaded image, the patient's latest prior study chosen."""
        from radfound.slicer.priors import find_prior

        self.prior_combo.clear()
        self.prior_combo.setEnabled(self.compare.isChecked())
        self.prior_combo.addItem(NO_PRIOR_ITEM, "")
        if not self.compare.isChecked():
            return
        node = self.inputs.node()
        others = [n for n in volume_nodes(self.scene) if n is not node]
        for other in others:
            self.prior_combo.addItem(other.GetName(), other.GetID())
        found = find_prior(node, others) if node is not None else None
        if found is not None:
            self.prior_combo.setCurrentIndex(self.prior_combo.findData(found.GetID()))
            return
        from radfound.slicer.priors import database_prior

        stored = database_prior(self.database, node) if node is not None else None
        if stored is not None:  # not loaded yet: offered, and loaded when the draft is generated
            series, date = stored
            self.prior_combo.addItem(f"study of {date[:4]}-{date[4:6]}-{date[6:]} (DICOM database, not loaded)",
                                     f"db:{series}")
            self.prior_combo.setCurrentIndex(prop(self.prior_combo, "count") - 1)

    def _prior_reports(self) -> list:
        """The SRs Slicer's DICOM database holds for the study the draft was compared with."""
        from radfound.slicer.priors import database_reports

        prior = self.logic.drafted_prior(self.draft) if self.draft is not None else None
        return database_reports(self.database, prior.study_uid if prior is not None else None)

    def prior_node(self):
        """The chosen prior image; one chosen from the DICOM database is loaded now (main thread)."""
        node_id = self.prior_combo.itemData(prop(self.prior_combo, "currentIndex"))
        if node_id and node_id.startswith("db:"):
            loaded = self.load_series(node_id[3:])
            self.refresh_prior()  # it is a loaded image now: listed, and chosen as the patient's prior
            return loaded
        return self.scene.GetNodeByID(node_id) if node_id else None

    def current_study(self):
        """The chosen image, or the mammogram view set as the per-view combos show it (the user's overrides)."""
        return self.logic.study(self.inputs.node(), self.inputs.kind(), self.view_set())

    def view_set(self) -> dict | None:
        """{view code: node} as shown in the per-view combos (the user's overrides included)."""
        if self.inputs.kind() != "mammo":
            return None
        views = {}
        for code, combo in self.view_combos.items():
            node_id = combo.itemData(prop(combo, "currentIndex"))
            if node_id:
                views[code] = self.scene.GetNodeByID(node_id)
        return views

    # ---- generate / cancel ---------------------------------------------------------------------
    def on_generate(self) -> None:
        self.run_or_cancel()

    def ready(self) -> bool:
        if self.inputs.node() is None:
            self.show_error("Load an image first (File > Add Data or the DICOM module).")
            return False
        if self.unsaved_edit and self.confirm is not None and not self.confirm(
                "The current draft has edits that are not saved. Generate a new draft and discard them?"):
            return False
        return True

    def start_job(self):
        node, views = self.inputs.node(), self.view_set()
        kind = self.inputs.kind()
        prior = self.prior_node() if self.compare.isChecked() else None
        job = self.logic.draft(node, kind=kind, view_set=views, blocking=False, compare=self.compare.isChecked(),
                               prior_node=prior)
        self.draft_prior = prior
        # Kept until the new draft's first words arrive: a run that fails before (a model that does not
        # load) gives the previous draft back instead of an empty box.
        self._previous = (self.draft, self.text.toPlainText(), self.draft_node, self.draft_views, self.draft_kind,
                          self.unsaved_edit, self.save_button.isEnabled(), prop(self.rating, "currentIndex"))
        self.draft, self.draft_node, self.draft_views, self.draft_kind = None, node, views, kind
        self.unsaved_edit = False
        self.text.setPlainText("")
        self.text.setReadOnly(True)
        self.save_button.setEnabled(False)
        self.rating.setCurrentIndex(0)  # a rating belongs to one draft
        self.status.setText("Generating (loading the model the first time)...")
        return job

    def on_text(self, text: str) -> None:
        self._previous = None
        self.text.moveCursor(QtGui.QTextCursor.End)
        self.text.insertPlainText(text)

    def on_done(self, draft) -> None:
        self._previous = None
        self.draft = draft
        self.text.setPlainText(draft.text)
        if draft.comparison and getattr(self, "draft_prior", None) is not None:
            from radfound.slicer.priors import show_side_by_side

            show_side_by_side(self.draft_node, self.draft_prior)  # in the Slicer application only
        t = draft.timings
        cut = " It stopped at the token limit and may be cut off." if draft.truncated else ""
        notes = "".join(f" Note: {w}." for w in self.logic.warnings)
        self._end(f"Draft ready in {t.total_ms / 1000:.2f} s ({t.new_tokens} tokens, {t.tokens_per_s:.0f} tokens/s)."
                  f"{cut}{notes} Edit it, then Save.")
        self.save_button.setEnabled(True)

    def _fail(self, exc: BaseException) -> None:
        previous, self._previous = getattr(self, "_previous", None), None
        super()._fail(exc)
        if previous is not None and previous[0] is not None:
            (self.draft, text, self.draft_node, self.draft_views, self.draft_kind, unsaved, can_save, rating) = previous
            self.text.setPlainText(text)
            self.rating.setCurrentIndex(rating)
            self.unsaved_edit = unsaved
            self.save_button.setEnabled(can_save)

    def on_cancelled(self) -> None:
        self._previous = None
        self._end("Cancelled: the partial draft is kept for reference and cannot be saved.")

    def _end(self, status: str) -> None:
        super()._end(status)
        self.text.setReadOnly(False)

    # ---- save ----------------------------------------------------------------------------------
    def _edited(self) -> None:
        """A saved draft can be saved again once its text changes (not twice as it stands)."""
        if self.draft is not None and self.job is None:
            self.save_button.setEnabled(True)
            self.unsaved_edit = self.text.toPlainText() != self.draft.text

    def _draft_image_gone(self) -> bool:
        node = self.draft_node
        return node is None or node.GetScene() is not self.scene or self.scene.GetNodeByID(node.GetID()) is not node

    def on_save(self):
        if self.draft is None or self.draft_node is None:
            return None
        if self._draft_image_gone():  # closed scene or deleted image: nothing to attach the draft to
            self.save_button.setEnabled(False)
            self.status.setText("The image this draft was made for is no longer in the scene: it cannot be saved.")
            return None
        rating = self.rating.itemData(prop(self.rating, "currentIndex")) or None
        try:
            saved = self.logic.save(self.draft, self.draft_node, edited_text=self.text.toPlainText(),
                                    rating=rating, view_set=self.draft_views, kind=self.draft_kind or "", sr=True,
                                    similar=True, prior_reports=self._prior_reports())
        except Exception as exc:  # noqa: BLE001 - a message; a bug's traceback is logged
            self._fail(exc)
            return None
        self.save_button.setEnabled(False)  # again after the next edit
        self.unsaved_edit = False
        self.status.setText(saved_message(saved, f" with {len(saved['markups'])} markup(s)"))
        return saved
