"""The input controls both panels share: image, modality (detected, with override), model, device."""

from __future__ import annotations

from pathlib import PurePath

from radfound.errors import RadFoundError
from radfound.slicer.models import DEVICES, available_models
from radfound.slicer.study_from_scene import detect_kind
from radfound.ui.qt import child, prop

KIND_NAMES = {"cxr": "Chest X-ray", "mammo": "Mammogram (4 views)", "ct": "CT volume", "image": "Other image"}
DEVICE_NAMES = {"auto": "Auto (CUDA if available)", "cuda": "CUDA", "cpu": "CPU"}


def volume_nodes(scene) -> list:
    """Scalar volume nodes of the scene, in scene order (labelmaps excluded)."""
    found = []
    collection = scene.GetNodesByClass("vtkMRMLScalarVolumeNode")
    for i in range(collection.GetNumberOfItems()):
        node = collection.GetItemAsObject(i)
        if not node.IsA("vtkMRMLLabelMapVolumeNode") and node.GetImageData() is not None:
            found.append(node)
    return found


class InputControls:
    """Binds the ``inputGroupBox`` widgets of a RadFound .ui file to a scene."""

    def __init__(self, root, scene):
        self.scene = scene
        self.volume = child(root, "volumeComboBox")
        self.modality = child(root, "modalityComboBox")
        self.model = child(root, "modelComboBox")
        self.device = child(root, "deviceComboBox")
        self._detected: dict[tuple, str] = {}
        self.listeners: list = []  # called with no argument when the image or the study kind changes
        for value in DEVICES:
            self.device.addItem(DEVICE_NAMES[value], value)
        self.refresh_models()
        self.refresh_volumes()
        self.volume.currentIndexChanged.connect(lambda *_: self.refresh_modality())
        self.modality.currentIndexChanged.connect(lambda *_: self._changed())

    def _changed(self) -> None:
        for listener in self.listeners:
            listener()

    def refresh_models(self) -> None:
        """List the registry's models again (after an import), keeping the current choice."""
        current = self.model_name() if prop(self.model, "count") else None
        self.model.clear()
        models = available_models()
        for name, path in models:
            self.model.addItem(name, path)
        if not models:
            self.model.addItem("(no model installed: see radfound models import)", "")
        self.model.setCurrentIndex(max(self._find_model(current), 0) if current else 0)

    def _find_model(self, value: str) -> int:
        """The entry for ``value``, a folder or a name: a model just installed is listed by its folder now."""
        index = self.model.findData(value)
        if index >= 0:
            return index
        name = PurePath(value).name
        return next((i for i in range(prop(self.model, "count"))
                     if PurePath(self.model.itemData(i) or "").name == name), -1)

    def refresh_volumes(self) -> None:
        """List the scene's images again, keeping the current choice when it still exists."""
        current = self.node()
        self.volume.blockSignals(True)
        self.volume.clear()
        for node in volume_nodes(self.scene):
            self.volume.addItem(node.GetName(), node.GetID())
        if current is not None:
            index = self.volume.findData(current.GetID())
            self.volume.setCurrentIndex(max(index, 0))
        self.volume.blockSignals(False)
        self.refresh_modality()

    def node(self):
        index = prop(self.volume, "currentIndex")
        if index is None or index < 0:
            return None
        return self.scene.GetNodeByID(self.volume.itemData(index))

    def detected_kind(self) -> str | None:
        node = self.node()
        if node is None:
            return None
        # Keyed by the image data's modified time too: after Close scene a new patient's image reuses the ID.
        key = (node.GetID(), node.GetImageData().GetMTime() if node.GetImageData() is not None else 0)
        if key not in self._detected:
            try:
                self._detected[key] = detect_kind(node)
            except (ImportError, RadFoundError):  # packages not installed yet, or an unreadable source file
                return None
        return self._detected[key]

    def refresh_modality(self) -> None:
        """'Auto (detected: Chest X-ray)' first, then every kind as a manual override."""
        chosen = self.modality.itemData(prop(self.modality, "currentIndex")) if prop(self.modality, "count") else None
        detected = self.detected_kind()
        self.modality.blockSignals(True)
        self.modality.clear()
        label = KIND_NAMES.get(detected, "unknown") if self.node() is not None else "no image"
        self.modality.addItem(f"Auto (detected: {label})", "auto")
        for kind, name in KIND_NAMES.items():
            self.modality.addItem(name, kind)
        self.modality.setCurrentIndex(max(self.modality.findData(chosen or "auto"), 0))
        self.modality.blockSignals(False)
        self._changed()

    def kind(self) -> str | None:
        chosen = self.modality.itemData(prop(self.modality, "currentIndex"))
        return self.detected_kind() if chosen in (None, "auto") else chosen

    def model_name(self) -> str | None:
        return self.model.itemData(prop(self.model, "currentIndex")) or None

    def device_name(self) -> str:
        return self.device.itemData(prop(self.device, "currentIndex")) or "auto"
