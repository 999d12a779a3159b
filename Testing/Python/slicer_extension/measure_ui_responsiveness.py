"""UI responsiveness while drafting: the longest gap between 10 ms QTimer ticks on the main thread.

Not a test (no timing assertions in tests): a measurement for docs/slicer.md. Usage:
    QT_QPA_PLATFORM=offscreen .venv/bin/python Testing/Python/slicer_extension/measure_ui_responsiveness.py MODEL_DIR
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from pydicom.data import get_testdata_file
from radfound.slicer.core_app import start_core
from radfound.slicer.report_logic import RadFoundReportLogic
from radfound.ui.qt import QtCore, application
model = sys.argv[1]
app = application(); core = start_core()
node = core.load_volume(get_testdata_file("RG1_UNCI.dcm"))
logic = RadFoundReportLogic(model=model, max_new_tokens=256)
logic.draft(node)  # warm: load the model once
ticks = []
timer = QtCore.QTimer(); timer.setInterval(10); timer.timeout.connect(lambda: ticks.append(time.perf_counter())); timer.start()
for label, blocking in (("worker thread (panel)", False), ("same thread (blocking call)", True)):
    ticks.clear(); t0 = time.perf_counter()
    if blocking:
        QtCore.QTimer.singleShot(0, lambda: logic.draft(node))
        while time.perf_counter() - t0 < 0.05 or not ticks: app.processEvents()
        end = time.perf_counter() + 0.05
        while time.perf_counter() < end: app.processEvents()
        ticks_ = [t0] + ticks
    else:
        job = logic.draft(node, blocking=False)
        while job.running: app.processEvents(); time.sleep(0.001)
        app.processEvents(); ticks_ = [t0] + ticks
    gaps = [b - a for a, b in zip(ticks_, ticks_[1:])]
    print(f"{label}: {len(ticks)} ticks, longest main-thread gap {max(gaps) * 1000:.0f} ms, total {(time.perf_counter()-t0)*1000:.0f} ms")
