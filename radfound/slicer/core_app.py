"""A Slicer application core without the desktop application, for batch work and tests.

Inside the Slicer application ``slicer.mrmlScene`` and the module logics already
exist. Outside it (``pip install slicer-core``) this builds the same pieces the
application would: one scene with its default nodes and colour tables, the
application logic with the volumes, markups, subject hierarchy and data logics
registered under their module names, and the IO logic that ``.mrb`` reading needs.
The wiring follows ``trame_slicer.core.slicer_app`` (trame-slicer).
"""

from __future__ import annotations

import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from radfound.errors import StudyReadError


@dataclass
class SlicerCore:
    """The scene and the logics a headless script needs."""

    scene: object
    app_logic: object
    volumes_logic: object
    markups_logic: object
    subject_hierarchy_logic: object
    _keep: list = field(default_factory=list, repr=False)

    SINGLE_FILE = 4  # vtkSlicerVolumesLogic loading option: do not look for the rest of a series

    def load_volume(self, path: str | Path, name: str | None = None):
        """Load an NRRD / NIfTI / DICOM file (or the series it belongs to) as a scalar volume node."""
        import slicer

        path = Path(path)
        if not path.exists():
            raise StudyReadError("file not found", path)
        node = self.volumes_logic.AddArchetypeVolume(str(path), name or path.stem, 0, None)
        if node is None and path.is_file():  # a lone 2D DICOM image (CR/DX/MG) is not a series: read just the file
            node = self.volumes_logic.AddArchetypeVolume(str(path), name or path.stem, self.SINGLE_FILE, None)
            if node is not None:
                node.SetName(name or path.stem)  # the failed first try used up the plain name
        if node is None:
            raise StudyReadError("Slicer's volumes logic could not read this file as a volume", path)
        # The desktop application puts loaded data in the subject hierarchy; the bare core does not.
        sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(self.scene)
        if sh.GetItemByDataNode(node) == 0:
            sh.CreateItem(sh.GetSceneItemID(), node)
        return node

    def write_mrb(self, path: str | Path) -> Path:
        """Write the whole scene with its data into one ``.mrb`` bundle."""
        path = Path(path).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.scene.SetRootDirectory(str(path.parent))
        if not self.scene.WriteToMRB(str(path)):
            raise StudyReadError("Slicer could not write the scene bundle", path)
        return path

    def read_mrb(self, path: str | Path) -> None:
        """Replace the scene content with a ``.mrb`` bundle (written by Slicer or ``write_mrb``)."""
        path = Path(path)
        with tempfile.TemporaryDirectory() as tmp:
            with zipfile.ZipFile(path) as bundle:
                bundle.extractall(tmp)
            mrml = next(Path(tmp).rglob("*.mrml"), None)
            if mrml is None:
                raise StudyReadError("no .mrml scene inside the bundle", path)
            self.scene.SetURL(str(mrml))
            if not self.scene.Connect(None):
                raise StudyReadError("Slicer could not read the scene in the bundle", path)


def application_core() -> SlicerCore:
    """The same interface over the running Slicer application's own scene and logics."""
    import slicer

    return SlicerCore(
        scene=slicer.mrmlScene,
        app_logic=slicer.app.applicationLogic(),
        volumes_logic=slicer.modules.volumes.logic(),
        markups_logic=slicer.modules.markups.logic(),
        subject_hierarchy_logic=slicer.modules.subjecthierarchy.logic(),
    )


def start_core() -> SlicerCore:
    """Create a scene and application logic like the Slicer application does, and make it ``slicer.mrmlScene``."""
    import slicer
    from vtkmodules.vtkCommonCore import vtkCollection, vtkOutputWindow

    out = vtkOutputWindow()
    out.SetDisplayModeToAlwaysStdErr()
    vtkOutputWindow.SetInstance(out)

    scene = slicer.vtkMRMLScene()
    crosshair = slicer.vtkMRMLCrosshairNode()
    crosshair.SetCrosshairName("default")
    scene.AddNode(crosshair)

    app_logic = slicer.vtkSlicerApplicationLogic()
    app_logic.SetMRMLScene(scene)
    app_logic.GetColorLogic().SetMRMLScene(scene)
    app_logic.GetColorLogic().AddDefaultColorNodes()
    app_logic.SetSliceLogics(vtkCollection())
    app_logic.SetViewLogics(vtkCollection())

    def register(logic, name):
        logic.SetMRMLScene(scene)
        logic.SetMRMLApplicationLogic(app_logic)
        app_logic.SetModuleLogic(name, logic)
        return logic

    colors = register(slicer.vtkMRMLColorLogic(), "Colors")  # the app logic holds it weakly: keep it
    volumes = register(slicer.vtkSlicerVolumesLogic(), "Volumes")
    markups = register(slicer.vtkSlicerMarkupsLogic(), "Markups")
    sh_logic = register(slicer.vtkSlicerSubjectHierarchyModuleLogic(), "SubjectHierarchy")
    data = register(slicer.vtkSlicerDataModuleLogic(), "Data")
    slicer.vtkMRMLSliceNode.AddDefaultSliceOrientationPresets(scene, True)

    # Reading .mrb bundles goes through the remote IO / data IO manager logics.
    cache = tempfile.TemporaryDirectory(prefix="radfound-slicer-cache-")
    remote_io = slicer.vtkMRMLRemoteIOLogic()
    remote_io.SetMRMLScene(scene)
    remote_io.SetMRMLApplicationLogic(app_logic)
    remote_io.GetCacheManager().SetRemoteCacheDirectory(cache.name)
    io_logic = slicer.vtkDataIOManagerLogic()
    io_logic.SetMRMLScene(scene)
    io_logic.SetMRMLApplicationLogic(app_logic)
    io_logic.SetAndObserveDataIOManager(remote_io.GetDataIOManager())
    remote_io.AddDataIOToScene()

    slicer.mrmlScene = scene
    slicer.app_logic = app_logic  # not a Slicer name: lets our glue find the logics outside the application
    return SlicerCore(scene, app_logic, volumes, markups, sh_logic, _keep=[colors, data, remote_io, io_logic, cache])
