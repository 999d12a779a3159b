"""The RadFoundVQA panel: a chat about the selected image, answers streamed, study encoded once.

History shows every question and answer of the selected image; preset questions
depend on the (detected or chosen) modality; Ask becomes Cancel while the model
runs in a worker thread; Save writes the conversation as a text node.
"""

from __future__ import annotations

from radfound.config import PRELIMINARY_NOTICE
from radfound.slicer.vqa_logic import RadFoundVQALogic
from radfound.ui.inputs import InputControls
from radfound.ui.messages import user_message
from radfound.ui.qt import QtCore, QtGui, child, prop

POLL_MS = 30
PRESET_PROMPT = "Preset questions..."


class VQAPanel:
    """Controller of a loaded ``RadFoundVQA.ui`` widget."""

    def __init__(self, widget, scene, logic: RadFoundVQALogic | None = None, show_error=None, before_run=None):
        self.widget = widget
        self.scene = scene
        self.logic = logic or RadFoundVQALogic()
        self.show_error = show_error or (lambda text: None)
        self.before_run = before_run  # e.g. install missing packages with consent; False cancels the run
        self.inputs = InputControls(widget, scene)
        self.history = child(widget, "historyTextEdit")
        self.presets = child(widget, "presetComboBox")
        self.question = child(widget, "questionLineEdit")
        self.ask_button = child(widget, "askButton")
        self.save_button = child(widget, "saveButton")
        self.clear_button = child(widget, "clearButton")
        self.provider_label = child(widget, "providerLabel")
        self.status = child(widget, "statusLabel")
        child(widget, "preliminaryLabel").setText(PRELIMINARY_NOTICE)
        self.job = None
        self.job_node = None
        self.timer = QtCore.QTimer()
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._drain)
        self.ask_button.clicked.connect(lambda *_: self.on_ask())
        self.question.returnPressed.connect(lambda *_: self.on_ask())
        self.presets.activated.connect(lambda index, *_: self._use_preset(index))
        self.save_button.clicked.connect(lambda *_: self.on_save())
        self.clear_button.clicked.connect(lambda *_: self.on_clear())
        self.inputs.listeners += [self.refresh_presets, self.show_history]
        self.refresh_presets()
        self.show_history()

    def refresh(self) -> None:
        self.inputs.refresh_models()
        self.inputs.refresh_volumes()
        self.show_history()

    def refresh_presets(self) -> None:
        self.presets.clear()
        self.presets.addItem(PRESET_PROMPT)
        for question in self.logic.presets(self.inputs.kind() or "image"):
            self.presets.addItem(question)

    def _use_preset(self, index) -> None:
        if isinstance(index, str):  # PythonQt on Qt 5 may deliver the activated(QString) overload
            index = self.presets.findText(index)
        if index > 0:
            self.question.setText(self.presets.itemText(index))
            self.presets.setCurrentIndex(0)

    def show_history(self) -> None:
        node = self.inputs.node()
        answers = self.logic.history(node) if node is not None else []
        self.history.setPlainText("".join(f"Q: {a.question}\nA: {a.answer}\n\n" for a in answers))
        self.save_button.setEnabled(bool(answers))

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def on_ask(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling...")
            return
        node = self.inputs.node()
        question = prop(self.question, "text").strip()
        if node is None or not question:
            self.show_error("Load an image and type a question first." if node is None else "Type a question first.")
            return
        if self.before_run is not None and not self.before_run():
            return
        self.logic.model_name = self.inputs.model_name()
        self.logic.device = self.inputs.device_name()
        try:
            self.job = self.logic.ask(node, question, kind=self.inputs.kind(), blocking=False)
        except Exception as exc:  # noqa: BLE001 - a message; a bug's traceback is logged
            self._fail(exc)
            return
        self.job_node = node
        self.history.moveCursor(QtGui.QTextCursor.End)
        self.history.insertPlainText(f"Q: {question}\nA: ")
        self.question.setText("")
        self.ask_button.setText("Cancel")
        self.status.setText("Answering (the first question also encodes the image)...")
        self.timer.start()

    def _drain(self) -> None:
        if self.job is None:
            self.timer.stop()
            return
        for event in self.job.poll():
            if event.kind == "text":
                self.history.moveCursor(QtGui.QTextCursor.End)
                self.history.insertPlainText(event.value)
            elif event.kind == "done":
                answer = event.value
                self.provider_label.setText(f"Model: {answer.model}   Provider: {answer.provider}")
                self._end(f"Answered in {answer.timings.total_ms / 1000:.2f} s.")
                self.show_history()
            elif event.kind == "cancelled":
                self._end("Cancelled.")
                self.show_history()
            elif event.kind == "error":
                self._fail(event.value)

    def _fail(self, exc: BaseException) -> None:
        message = user_message(exc)
        self._end(f"Error: {message}")
        self.show_history()
        self.show_error(message)

    def _end(self, status: str) -> None:
        self.timer.stop()
        self.job = None
        self.ask_button.setText("Ask")
        self.status.setText(status)

    def on_clear(self) -> None:
        node = self.inputs.node()
        if node is not None:
            self.logic.clear(node)
        self.show_history()

    def on_save(self):
        node = self.inputs.node()
        if node is None or not self.logic.history(node):
            return None
        saved = self.logic.save_conversation(node)
        self.status.setText(f"Saved '{saved.GetName()}' in the study's RadFound folder.")
        return saved
