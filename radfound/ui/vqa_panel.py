"""The RadFoundVQA panel: a chat about the selected image, answers streamed, study encoded once.

History shows every question and answer of the selected image; preset questions
depend on the (detected or chosen) modality; Ask becomes Cancel while the model
runs in a worker thread; Save writes the conversation as a text node and a DICOM SR.
"""

from __future__ import annotations

from radfound.outputs.text import conversation_text
from radfound.slicer.mammo_views import assemble_view_set
from radfound.slicer.vqa_logic import RadFoundVQALogic
from radfound.ui.job_panel import JobPanel
from radfound.ui.messages import saved_message
from radfound.ui.qt import QtGui, child, prop

PRESET_PROMPT = "Preset questions..."


class VQAPanel(JobPanel):
    """Controller of a loaded ``RadFoundVQA.ui`` widget."""

    run_label = "Ask"

    def __init__(self, widget, scene, logic: RadFoundVQALogic | None = None, show_error=None, before_run=None,
                 confirm=None):
        super().__init__(widget, scene, logic or RadFoundVQALogic(), "askButton", show_error, before_run, confirm)
        self.ask_button = self.run_button
        self.history = child(widget, "historyTextEdit")
        self.presets = child(widget, "presetComboBox")
        self.question = child(widget, "questionLineEdit")
        self.save_button = child(widget, "saveButton")
        self.clear_button = child(widget, "clearButton")
        self.job_node = None
        self.ask_button.clicked.connect(lambda *_: self.on_ask())
        self.question.returnPressed.connect(lambda *_: self.on_return())
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
        self.history.setPlainText(conversation_text(answers) + ("\n\n" if answers else ""))
        self.save_button.setEnabled(bool(answers))

    def on_ask(self) -> None:
        self.run_or_cancel()

    def on_return(self) -> None:
        """Enter asks; while an answer is running it does nothing (only the Cancel button cancels)."""
        if self.job is None:
            self.on_ask()

    def ready(self) -> bool:
        node, question = self.inputs.node(), prop(self.question, "text").strip()
        if node is None or not question:
            self.show_error("Load an image and type a question first." if node is None else "Type a question first.")
            return False
        return True

    def start_job(self):
        node, question, kind = self.inputs.node(), prop(self.question, "text").strip(), self.inputs.kind()
        # A mammogram question ("Which breast is abnormal?") is about the whole set, as the report is.
        views = assemble_view_set(node) if kind == "mammo" else None
        if views and node not in views.values():  # the selected image has no view of its own: ask about it alone
            views = None
        job = self.logic.ask(node, question, kind=kind, view_set=views or None, blocking=False)
        self.job_node = node
        self.history.moveCursor(QtGui.QTextCursor.End)
        self.history.insertPlainText(f"Q: {question}\nA: ")
        self.question.setText("")
        self.status.setText("Answering (the first question also encodes the image)...")
        return job

    def on_text(self, text: str) -> None:
        if self.inputs.node() is not self.job_node:  # another image is shown: its history is not this answer's
            return
        self.history.moveCursor(QtGui.QTextCursor.End)
        self.history.insertPlainText(text)

    def on_done(self, answer) -> None:
        cut = " The answer stopped at the token limit and may be cut off." if answer.truncated else ""
        self._end(f"Answered in {answer.timings.total_ms / 1000:.2f} s.{cut}")

    def on_cancelled(self) -> None:
        self._end("Cancelled.")

    def _end(self, status: str) -> None:
        super()._end(status)
        self.show_history()

    def on_clear(self) -> None:
        if self.job is not None:  # the running answer would land in the cleared history
            self.status.setText("Wait for the answer, or cancel it, before clearing the conversation.")
            return
        node = self.inputs.node()
        if node is not None:
            self.logic.clear(node)
        self.show_history()

    def on_save(self):
        node = self.inputs.node()
        if node is None or not self.logic.history(node):
            return None
        saved = self.logic.save_conversation(node, sr=True)
        self.status.setText(saved_message(saved, ""))
        return saved
