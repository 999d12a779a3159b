"""Qt panels shared by the RadFoundReport and RadFoundVQA modules.

Written against ``radfound.ui.qt`` (a shim): inside Slicer it is PythonQt's flat
``qt`` module, outside (tests, ``ci/screenshots``) it is Qt.py over PySide6, so the
same panel code runs in both. The panels hold no inference or scene logic of their
own: they call the module logic classes and apply the events of a background
``Job`` on the main thread from a QTimer.
"""
