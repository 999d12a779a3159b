"""One Qt namespace for Slicer (PythonQt) and for tests (Qt.py on PySide6).

Differences the panels must respect, and how:

- PythonQt exposes Qt properties as attributes (``combo.currentIndex``), PySide6 as
  methods (``combo.currentIndex()``): read them with ``prop(obj, "currentIndex")``.
- PythonQt has one flat ``qt`` module: ``QtCore``, ``QtGui`` and ``QtWidgets`` all
  name it there.
- Methods (``setText``, ``toPlainText``, ``addItem``) and ``signal.connect(fn)`` are
  the same in both.
"""

from __future__ import annotations

from pathlib import Path

try:  # inside 3D Slicer
    import qt as _qt  # type: ignore[import-not-found]

    QtCore = QtGui = QtWidgets = _qt
    PYTHONQT = True
except ImportError:  # anywhere else: Qt.py picks PySide6 (or PyQt)
    from Qt import QtCore, QtGui, QtWidgets  # type: ignore[no-redef]

    PYTHONQT = False


def prop(obj, name: str):
    """Read a Qt property the same way under PythonQt (attribute) and PySide6 (method)."""
    value = getattr(obj, name)
    return value() if callable(value) else value


def child(widget, name: str):
    """The descendant of ``widget`` whose objectName is ``name`` (raises if the .ui file lacks it)."""
    pending = list(widget.children())  # children() is a method under both bindings; findChildren differs
    while pending:
        obj = pending.pop(0)
        if prop(obj, "objectName") == name:
            return obj
        pending.extend(obj.children())
    raise LookupError(f"no widget named {name!r} in {prop(widget, 'objectName')!r}")


def load_ui(path: str | Path):
    """Build a widget from a Qt Designer .ui file (in Slicer prefer ``slicer.util.loadUI``)."""
    if PYTHONQT:
        loader = QtCore.QUiLoader()  # type: ignore[attr-defined]
        ui_file = QtCore.QFile(str(path))
        ui_file.open(QtCore.QFile.ReadOnly)
        try:
            return loader.load(ui_file)
        finally:
            ui_file.close()
    from Qt import QtCompat

    return QtCompat.loadUi(str(path))


def application():
    """The running QApplication, creating one outside Slicer (tests, screenshots)."""
    app = QtWidgets.QApplication.instance()
    return app if app is not None else QtWidgets.QApplication([])
