"""What both module widgets do inside the Slicer application, written once.

Load the module's .ui, build its panel (ReportPanel or VQAPanel), refresh the panel's
pickers when the scene changes (debounced: loading a DICOM study adds many nodes at
once), cancel a running job when the module is closed, and install the model's
Python packages on first use after the user agrees. Needs ``slicer`` and PythonQt's
``qt``, so it is imported only by the module files, never by tests or the CLI.
"""

from __future__ import annotations


def ensure_dependencies() -> bool:
    """Install missing Python packages after asking the user; False if they declined or it failed."""
    import slicer

    from radfound.errors import DependencyError
    from radfound.slicer.dependencies import ensure

    try:
        ensure(confirm=lambda message: slicer.util.confirmOkCancelDisplay(message, "RadFound"))
    except DependencyError as exc:
        slicer.util.errorDisplay(str(exc), windowTitle="RadFound")
        return False
    return True


def setup_panel(widget, panel_class, ui_file: str):
    """Put the panel built from ``ui_file`` into a ScriptedLoadableModuleWidget (also a VTKObservationMixin)."""
    import qt
    import slicer

    ui_widget = slicer.util.loadUI(widget.resourcePath(ui_file))
    widget.layout.addWidget(ui_widget)
    widget.layout.addStretch(1)
    panel = panel_class(
        ui_widget,
        slicer.mrmlScene,
        show_error=lambda text: slicer.util.errorDisplay(text, windowTitle="RadFound"),
        before_run=ensure_dependencies,
        confirm=lambda question: slicer.util.confirmOkCancelDisplay(question, "RadFound"),
    )
    timer = qt.QTimer()
    timer.setSingleShot(True)
    timer.setInterval(200)
    timer.timeout.connect(panel.refresh)
    for event in (slicer.mrmlScene.NodeAddedEvent, slicer.mrmlScene.NodeRemovedEvent, slicer.mrmlScene.EndCloseEvent):
        widget.addObserver(slicer.mrmlScene, event, lambda *_: timer.start())
    widget._refreshTimer = timer  # keep the timer alive as long as the widget
    return panel


def cleanup_panel(widget) -> None:
    """Stop observing the scene and cancel the panel's running job, if any."""
    widget.removeObservers()
    panel = getattr(widget, "panel", None)
    if panel is not None and panel.job is not None:
        panel.job.cancel()
