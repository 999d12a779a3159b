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
        self.parent.dependencies = []
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
        from radfound.ui.vqa_panel import VQAPanel
        from radfound.ui.slicer_module import setup_panel

        self.panel = setup_panel(self, VQAPanel, "UI/RadFoundVQA.ui")

    def cleanup(self):
        from radfound.ui.slicer_module import cleanup_panel

        cleanup_panel(self)


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

