"""What both panels share: inputs, the preliminary notice, and one model job at a time.

A job runs in a worker thread (radfound.slicer.jobs); a QTimer on the main thread
drains its events, so scene, VTK and Qt objects are only touched on the main thread.
The run button becomes Cancel while a job runs. Subclasses say what a run starts
(``start_job``) and what streamed text, a result and a cancellation do.
"""

from __future__ import annotations

from radfound.assembly.build import BuildCancelled
from radfound.config import PRELIMINARY_NOTICE
from radfound.registry.download import DownloadCancelled
from radfound.slicer.models import install_job, install_question, needs_install
from radfound.ui.inputs import InputControls
from radfound.ui.messages import user_message
from radfound.ui.qt import QtCore, child
from radfound.ui.similar_box import SimilarCasesBox

POLL_MS = 30


class JobPanel:
    """Base controller of a loaded module .ui: ``show_error(text)`` displays a message,
    ``before_run()`` (e.g. install missing packages with consent) returning False cancels a run,
    ``confirm(question)`` asks the user OK/Cancel (None: no question is asked)."""

    run_label = "Run"

    def __init__(self, widget, scene, logic, run_button: str, show_error=None, before_run=None, confirm=None):
        self.widget = widget
        self.scene = scene
        self.logic = logic
        self.show_error = show_error or (lambda text: None)
        self.before_run = before_run
        self.confirm = confirm
        self.inputs = InputControls(widget, scene)
        self.run_button = child(widget, run_button)
        self.provider_label = child(widget, "providerLabel")
        self.status = child(widget, "statusLabel")
        self.install_bar = child(widget, "installProgressBar")  # shown only while a model installs
        self.install_bar.setVisible(False)
        child(widget, "preliminaryLabel").setText(PRELIMINARY_NOTICE)
        self.job = None
        self.building = False  # the running job installs a model (radfound.slicer.models.install_job)
        self.timer = QtCore.QTimer()
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._drain)
        self.similar = SimilarCasesBox(widget, self.inputs, self.current_study, self.show_error, self.status)

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def run_or_cancel(self) -> None:
        """Cancel the running job, or check the inputs and start one (``start_job``)."""
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling..." if not self.building else "Cancelling the install...")
            return
        if not self.ready():
            return
        if self.before_run is not None and not self.before_run():
            return
        self.logic.model_name = self.inputs.model_name()
        self.logic.device = self.inputs.device_name()
        if needs_install(self.logic.model_name):  # a registry model: install it first, after the user agrees
            if self.confirm is not None and not self.confirm(install_question(self.logic.model_name)):
                return
            self.building = True
            self.job = install_job(self.logic.model_name)
            self.run_button.setText("Cancel")
            self.status.setText(f"Installing {self.logic.model_name}...")
            self.install_bar.setRange(0, 0)  # busy until the first sized step reports
            self.install_bar.setVisible(True)
            self.timer.start()
            return
        try:
            self.job = self.start_job()
        except Exception as exc:  # noqa: BLE001 - a message; a bug's traceback is logged
            self._fail(exc)
            return
        self.run_button.setText("Cancel")
        self.timer.start()

    def _drain(self) -> None:
        if self.job is None:
            self.timer.stop()
            return
        if self.building:
            self._drain_build()
            return
        for event in self.job.poll():
            if event.kind == "text":
                self.on_text(event.value)
            elif event.kind == "done":
                result = event.value
                self.provider_label.setText(f"Model: {result.model}   Provider: {result.provider}")
                self.on_done(result)
            elif event.kind == "cancelled":
                self.on_cancelled()
            elif event.kind == "error":
                self._fail(event.value)

    def _drain_build(self) -> None:
        """Progress of a model install into the status line; when it ends, list the models again and run."""
        for event in self.job.poll():
            if event.kind == "text":
                self.status.setText(str(event.value))
                fraction = getattr(event.value, "fraction", None)
                if fraction is not None:
                    self.install_bar.setRange(0, 100)
                    self.install_bar.setValue(int(100 * fraction))
                elif hasattr(event.value, "fraction"):
                    self.install_bar.setRange(0, 0)
            elif event.kind == "done":
                self.building = False
                self._end(f"Installed {self.logic.model_name}.")
                self.inputs.refresh_models()
                self.run_or_cancel()  # what the user asked for in the first place
                return
            elif event.kind in ("cancelled", "error"):
                self.building = False
                if event.kind == "cancelled" or isinstance(event.value, (BuildCancelled, DownloadCancelled)):
                    self._end("Install cancelled; nothing was installed (a download resumes next time).")
                else:
                    self._fail(event.value)
                return

    def _fail(self, exc: BaseException) -> None:
        message = user_message(exc)
        self._end(f"Error: {message}")
        self.show_error(message)

    def _end(self, status: str) -> None:
        self.timer.stop()
        self.job = None
        self.install_bar.setVisible(False)
        self.run_button.setText(self.run_label)
        self.status.setText(status)

    # ---- what a subclass says ------------------------------------------------------------------
    def current_study(self):
        """The Study of the chosen image as this panel reads it (main thread); the similar-case search uses it."""
        from radfound.slicer.mammo_views import assemble_view_set
        from radfound.slicer.study_from_scene import study_from_view_set, study_from_volume_node

        node, kind = self.inputs.node(), self.inputs.kind()
        views = assemble_view_set(node) if kind == "mammo" else None
        if views and node in views.values():
            return study_from_view_set(views)
        return study_from_volume_node(node, kind=kind)

    def ready(self) -> bool:
        """True when the inputs allow a run; otherwise show why and return False."""
        raise NotImplementedError

    def start_job(self):
        """Start the model job (non-blocking) and prepare the panel for its stream."""
        raise NotImplementedError

    def on_text(self, text: str) -> None:
        raise NotImplementedError

    def on_done(self, result) -> None:
        raise NotImplementedError

    def on_cancelled(self) -> None:
        raise NotImplementedError
