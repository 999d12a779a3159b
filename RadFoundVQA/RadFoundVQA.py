"""RadFound VQA: ask questions about the loaded image and get streamed, preliminary AI answers.

Only the Slicer-bound classes live here; the logic is
``radfound.slicer.vqa_logic.RadFoundVQALogic`` (GUI-free: encodes the study once and
reuses it for every question) and the panel is ``radfound.ui.vqa_panel.VQAPanel``.
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
from radfound.slicer.vqa_logic import RadFoundVQALogic  # noqa: F401  (``RadFoundVQALogic().ask(volumeNode, question)``)


class RadFoundVQA(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "RadFound VQA"
        self.parent.categories = ["RadFound"]
        self.parent.dependencies = ["RadFoundReport"]  # shares its first-use package installer
        self.parent.contributors = ["RadFound project"]
        self.parent.helpText = (
            "Chat with the RadFound vision-language model about the loaded image: preset questions per modality, "
            "answers streamed, the image encoded once for the whole conversation, which can be saved as a text node. "
            "Answers are PRELIMINARY AI output for a radiologist to verify. Research use only, not a medical device."
        )
        self.parent.acknowledgementText = "RadFound is open source (Apache-2.0) and trained on openly licensed data."


class RadFoundVQAWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.panel = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        import qt
        from RadFoundReport import ensureDependencies

        from radfound.ui.vqa_panel import VQAPanel

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/RadFoundVQA.ui"))
        self.layout.addWidget(uiWidget)
        self.layout.addStretch(1)
        self.panel = VQAPanel(
            uiWidget, slicer.mrmlScene,
            show_error=lambda text: slicer.util.errorDisplay(text, windowTitle="RadFound"),
            before_run=ensureDependencies,
        )
        self._refreshTimer = qt.QTimer()
        self._refreshTimer.setSingleShot(True)
        self._refreshTimer.setInterval(200)
        self._refreshTimer.timeout.connect(self.panel.refresh)
        for event in (slicer.mrmlScene.NodeAddedEvent, slicer.mrmlScene.NodeRemovedEvent, slicer.mrmlScene.EndCloseEvent):
            self.addObserver(slicer.mrmlScene, event, lambda *_: self._refreshTimer.start())

    def cleanup(self):
        self.removeObservers()
        if self.panel is not None and self.panel.job is not None:
            self.panel.job.cancel()


class RadFoundVQATest(ScriptedLoadableModuleTest):
    """Runs inside Slicer (``--testing``): preset questions and a saved conversation on a real scene."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_presets_and_conversation()

    def test_presets_and_conversation(self):
        import numpy as np

        from radfound.slicer import nodes
        from radfound.slicer.vqa_logic import PRESET_QUESTIONS
        from radfound.tasks.results import Answer

        self.assertTrue(all(PRESET_QUESTIONS[k] for k in ("cxr", "mammo", "ct", "image")))
        volume = slicer.util.addVolumeFromArray(np.zeros((1, 32, 32), dtype=np.float32), name="test image")
        node = nodes.save_conversation([Answer("Is it normal?", "Yes.", "test", "CPUExecutionProvider")], volume)
        self.assertIn("Q: Is it normal?", node.GetText())
        self.delayDisplay("RadFoundVQA self-test passed")

