"""slicer-core initialisation for tests: a real MRML scene and the Slicer logics, without the desktop app.

Import ``slicer_core`` (a pytest fixture, function scope: a fresh scene per test) from here,
or call ``radfound.slicer.core_app.start_core()`` directly.
"""

from __future__ import annotations

import pytest

pytest.importorskip("slicer", reason="slicer-core is not installed (pip install slicer-core)")

from radfound.slicer.core_app import SlicerCore, start_core  # noqa: E402


@pytest.fixture()
def slicer_core() -> SlicerCore:
    """A fresh scene with volumes, markups, subject hierarchy and colour logics, set as slicer.mrmlScene."""
    core = start_core()
    yield core
    core.scene.Clear(1)


def nrrd_from_pixels(pixels, path, spacing=(1.0, 1.0)):
    """Write 2D pixels (rows, cols) as a one-slice NRRD in LPS that Slicer's volumes logic reads."""
    import nrrd
    import numpy as np

    spacing = [float(s) if float(s) > 0 else 1.0 for s in spacing]
    data = np.asarray(pixels, dtype=np.float32)[:, :, None].transpose(1, 0, 2)  # nrrd axes: i (col), j (row), k
    header = {
        "space": "left-posterior-superior",
        "space directions": [[spacing[1], 0, 0], [0, spacing[0], 0], [0, 0, 1.0]],
        "space origin": [0.0, 0.0, 0.0],
        "kinds": ["domain", "domain", "domain"],
    }
    nrrd.write(str(path), data, header)
    return path
