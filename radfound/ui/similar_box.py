"""The *Similar cases* section both panels share: find the indexed studies most like the chosen image.

The search (encode the image, look up the model's local index) runs in a worker thread; a QTimer on the main
thread shows the matches: a thumbnail, the distance, the source, and, for the chosen one, the report saved for it
(a radiologist's saved text, or a batch draft marked as preliminary AI output). Nothing leaves the machine.
"""

from __future__ import annotations

from radfound.config import PRELIMINARY_NOTICE
from radfound.slicer.jobs import Job
from radfound.ui.messages import user_message
from radfound.ui.qt import QtCore, QtGui, QtWidgets, child, prop

POLL_MS = 50
K = 5


def find_job(model_name, device: str, study_of) -> Job:
    """A started Job: ``study_of()`` read on this (main) thread, then encode and search in the worker."""
    from radfound.similar.cases import find_similar
    from radfound.slicer.models import get_model

    study = study_of()

    def work(report, cancel):
        return find_similar(get_model(model_name, device), study, K)

    return Job(work, name="radfound-similar").start()


def match_label(n: int, match) -> str:
    from pathlib import PurePath

    source = PurePath(match.case.source).name if match.case.source else match.case.key
    who = "radiologist's report" if match.case.edited else "draft"
    return f"{n}. distance {match.distance:.3f}  {match.case.kind}  {source} ({who})"


def report_text(match) -> str:
    report = match.case.report.strip() or "(no report saved for this study)"
    if match.case.edited:
        return f"Report saved by a radiologist for {match.case.source or match.case.key}:\n\n{report}"
    return f"{PRELIMINARY_NOTICE}\nDraft of {match.case.source or match.case.key}:\n\n{report}"


class SimilarCasesBox:
    def __init__(self, widget, inputs, study_of, show_error, status):
        """``study_of()``: the Study of the panel's current image (main thread); ``status``: the panel's label."""
        self.inputs, self.study_of, self.show_error, self.status = inputs, study_of, show_error, status
        self.group = child(widget, "similarGroupBox")  # checkable: folded away until the reader wants it
        self.button = child(widget, "findSimilarButton")
        self.list = child(widget, "similarListWidget")
        self.report = child(widget, "similarReportTextEdit")
        self.matches: list = []
        self.job: Job | None = None
        self.timer = QtCore.QTimer()
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._drain)
        self.group.toggled.connect(lambda on, *_: self._fold(not on))
        self._fold(not self.group.isChecked())
        self.button.clicked.connect(lambda *_: self.find())
        self.list.currentRowChanged.connect(lambda row, *_: self._show(row))

    def _fold(self, folded: bool) -> None:
        for w in (self.button, self.list, self.report):
            w.setVisible(not folded)

    def find(self) -> None:
        if self.job is not None:
            return
        if self.inputs.node() is None:
            self.show_error("Load an image first (File > Add Data or the DICOM module).")
            return
        try:
            self.job = find_job(self.inputs.model_name(), self.inputs.device_name(), self.study_of)
        except Exception as exc:  # noqa: BLE001 - a message; a bug's traceback is logged
            self._fail(exc)
            return
        self.button.setEnabled(False)
        self.status.setText("Finding similar cases...")
        self.timer.start()

    def _drain(self) -> None:
        if self.job is None:
            self.timer.stop()
            return
        for event in self.job.poll():
            if event.kind == "done":
                self._finish()
                self.show_matches(event.value)
            elif event.kind in ("error", "cancelled"):
                self._finish()
                self._fail(event.value)

    def _finish(self) -> None:
        self.timer.stop()
        self.job = None
        self.button.setEnabled(True)

    def _fail(self, exc: BaseException) -> None:
        message = user_message(exc)
        self.status.setText(f"Error: {message}")
        self.show_error(message)

    def show_matches(self, matches) -> None:
        self.matches = list(matches)
        self.list.clear()
        self.report.setPlainText("")
        for n, m in enumerate(self.matches, 1):
            item = QtWidgets.QListWidgetItem(match_label(n, m))
            if m.thumbnail is not None and m.thumbnail.is_file():
                item.setIcon(QtGui.QIcon(str(m.thumbnail)))
            self.list.addItem(item)
        if self.matches:
            self.status.setText(f"{len(self.matches)} similar case(s) from your index; choose one to read its report.")
        else:
            self.status.setText("No similar cases yet: your index fills as you save drafts in RadFound Report "
                                "or run radfound batch --index.")

    def _show(self, row: int) -> None:
        if 0 <= row < len(self.matches):
            self.report.setPlainText(report_text(self.matches[row]))

    @property
    def count(self) -> int:
        return prop(self.list, "count")
