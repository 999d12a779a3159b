"""RadFound Report: draft Findings and Impression for the loaded image, for a radiologist to edit and sign.

This file holds only what needs the Slicer application (module, widget, self-test).
The logic lives in the ``radfound`` library shipped with the extension:
``radfound.slicer.report_logic.RadFoundReportLogic`` (GUI-free, also usable from
batch scripts) and ``radfound.ui.report_panel.ReportPanel`` (the Qt panel). Python
packages the model needs are installed on first use, after the user agrees.
"""

import os
import sys

import slicer
from slicer.ScriptedLoadableModule import ScriptedLoadableModule, ScriptedLoadableModuleTest, ScriptedLoadableModuleWidget
from slicer.util import VTKObservationMixin

try:
    import radfound  # noqa: F401  (installed extension: copied beside the modules)
except ImportError:  # a source checkout added as a module path: the library sits next to the module folder
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Light imports only (numpy, the standard library): ONNX Runtime and the model load on first use.
from radfound.slicer.report_logic import RadFoundReportLogic  # noqa: F401  (``RadFoundReportLogic().draft(volumeNode)``)


class RadFoundReport(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "RadFound Report"
        self.parent.categories = ["RadFound"]
        self.parent.dependencies = []
        self.parent.contributors = ["RadFound project"]
        self.parent.helpText = (
            "Drafts a radiology report (Findings, Impression) for a chest X-ray, a 4-view mammogram set or a CT "
            "volume with the RadFound vision-language model (ONNX Runtime, CUDA when present, else CPU). "
            "The draft is PRELIMINARY AI output: verify, edit and sign it. Research use only, not a medical device."
        )
        self.parent.acknowledgementText = "RadFound is open source (Apache-2.0) and trained on openly licensed data."


class RadFoundReportWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.panel = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        from radfound.ui.report_panel import ReportPanel
        from radfound.ui.slicer_module import setup_panel

        self.panel = setup_panel(self, ReportPanel, "UI/RadFoundReport.ui")

    def cleanup(self):
        from radfound.ui.slicer_module import cleanup_panel

        cleanup_panel(self)


class RadFoundReportTest(ScriptedLoadableModuleTest):
    """Runs inside Slicer (``--testing``): a real volume in the scene, a Study from it, a draft saved."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_study_and_save()

    def test_study_and_save(self):
        import numpy as np

        from radfound.slicer import nodes
        from radfound.slicer.study_from_scene import study_from_volume_node
        from radfound.tasks.results import Box, Draft

        volume = slicer.util.addVolumeFromArray(np.random.default_rng(0).random((1, 64, 64), dtype=np.float32) * 1000,
                                                name="test image")
        study = study_from_volume_node(volume, kind="cxr")
        self.assertEqual(study.views[0].shape, (64, 64))
        draft = Draft("No acute findings.", "Normal.", "test", "CPUExecutionProvider", boxes=[Box("x", 1, 2, 10, 20)])
        saved = nodes.save_draft(draft, volume)
        self.assertIn("PRELIMINARY", saved["text"].GetText())
        self.assertEqual(saved["markups"][0].GetNumberOfControlPoints(), 4)
        self.delayDisplay("RadFoundReport self-test passed")

