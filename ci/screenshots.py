"""Screenshots of both module panels with a real image and a real draft / conversation (see ci/screenshots)."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
SLICE_SIZE = (620, 660)  # width, height of the rendered slice view
PANEL_SIZE = (560, 860)


def pick_model(name: str | None) -> tuple[str, str]:
    """(model folder, caption) - the requested model, the shipped one, or a freshly exported tiny one."""
    from radfound.errors import ModelError
    from radfound.registry.store import resolve_model

    if name:
        return str(resolve_model(name)), name
    try:
        return str(resolve_model(None)), "radfound-small"
    except ModelError:
        from radfound.export.onnx_export import export_model
        from radfound.modeling.checkpoint import build_model

        model, tokenizer = build_model("tiny", seed=0)
        folder = export_model(model, tokenizer, Path(tempfile.mkdtemp(prefix="radfound-shots-")) / "radfound-tiny")
        return str(folder), "radfound-tiny (random weights: the workflow, not the model's quality)"


def render_slice(core, node):
    """The Red (axial) slice view of ``node`` as an RGB numpy array, rendered by vtkMRMLSliceLogic."""
    import numpy as np
    import slicer
    from vtk.util.numpy_support import vtk_to_numpy

    logic = slicer.vtkMRMLSliceLogic()
    logic.SetMRMLScene(core.scene)
    logic.SetMRMLApplicationLogic(core.app_logic)
    slice_node = logic.AddSliceNode("Red")
    slice_node.SetOrientation("Axial")
    logic.GetSliceCompositeNode().SetBackgroundVolumeID(node.GetID())
    slice_node.SetDimensions(SLICE_SIZE[0], SLICE_SIZE[1], 1)
    logic.FitSliceToAll()
    logic.UpdateImageData()
    blend = logic.GetBlend()
    blend.Update()
    image = blend.GetOutput()
    w, h, _ = image.GetDimensions()
    rgba = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(h, w, -1)
    return np.ascontiguousarray(rgba[::-1, :, :3])  # VTK rows go bottom-up


def compose(slice_rgb, panel_widget, title: str, path: Path) -> None:
    from radfound.ui.qt import QtCore, QtGui

    h, w, _ = slice_rgb.shape
    slice_image = QtGui.QImage(slice_rgb.data, w, h, 3 * w, QtGui.QImage.Format_RGB888)
    panel = panel_widget.grab()
    header = 34
    canvas = QtGui.QImage(w + panel.width(), max(h, panel.height()) + header, QtGui.QImage.Format_RGB32)
    canvas.fill(QtGui.QColor("#20242a"))
    painter = QtGui.QPainter(canvas)
    painter.setPen(QtGui.QColor("white"))
    painter.drawText(QtCore.QRect(10, 0, canvas.width() - 20, header), QtCore.Qt.AlignVCenter, title)
    painter.drawImage(0, header, slice_image)
    painter.drawPixmap(w, header, panel)
    painter.end()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not canvas.save(str(path)):
        raise SystemExit(f"could not write {path}")


def wait(app, panel) -> None:
    while panel.job is not None:
        app.processEvents()
        time.sleep(0.01)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()

    from pydicom.data import get_testdata_file

    from radfound.slicer.core_app import start_core
    from radfound.slicer.report_logic import RadFoundReportLogic
    from radfound.slicer.vqa_logic import RadFoundVQALogic
    from radfound.ui.qt import application, load_ui
    from radfound.ui.report_panel import ReportPanel
    from radfound.ui.vqa_panel import VQAPanel

    folder, caption = pick_model(args.model)
    app = application()
    core = start_core()
    image = get_testdata_file("RG1_UNCI.dcm")  # a real chest PA radiograph (pydicom-data)
    node = core.load_volume(image, name="Chest PA (RG1_UNCI.dcm)")
    slice_rgb = render_slice(core, node)

    report = ReportPanel(load_ui(ROOT / "RadFoundReport/Resources/UI/RadFoundReport.ui"), core.scene,
                         logic=RadFoundReportLogic(max_new_tokens=96))
    report.inputs.model.addItem(Path(folder).name, folder)
    report.inputs.model.setCurrentIndex(report.inputs.model.count() - 1)
    report.widget.resize(*PANEL_SIZE)
    report.on_generate()
    wait(app, report)
    compose(slice_rgb, report.widget, f"RadFound Report | model: {caption} | slice view: vtkMRMLSliceLogic",
            args.outdir / "RadFoundReport.png")

    vqa = VQAPanel(load_ui(ROOT / "RadFoundVQA/Resources/UI/RadFoundVQA.ui"), core.scene,
                   logic=RadFoundVQALogic(max_new_tokens=24))
    vqa.inputs.model.addItem(Path(folder).name, folder)
    vqa.inputs.model.setCurrentIndex(vqa.inputs.model.count() - 1)
    vqa.widget.resize(*PANEL_SIZE)
    for question in ("Is there a pleural effusion?", "Is the heart enlarged?", "Where is the abnormality?"):
        vqa.question.setText(question)
        vqa.on_ask()
        wait(app, vqa)
    compose(slice_rgb, vqa.widget, f"RadFound VQA | model: {caption} | slice view: vtkMRMLSliceLogic",
            args.outdir / "RadFoundVQA.png")
    print(f"wrote {args.outdir / 'RadFoundReport.png'} and {args.outdir / 'RadFoundVQA.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
