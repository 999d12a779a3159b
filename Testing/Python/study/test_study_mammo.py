"""Mammogram 4-view sets built from copies of the real left MLO mammogram with laterality/view tags changed."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset

from radfound.errors import StudyReadError
from radfound.study import mammo
from radfound.study.reader import read_study


def code(value: str, meaning: str) -> list[Dataset]:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "SCT", meaning
    return [item]


def test_four_views_from_a_folder_in_canonical_order(write_mammo, tmp_path):
    for side in "RL":
        for view in ("MLO", "CC"):
            write_mammo(tmp_path, f"{side}{view}.dcm", side, view)
    study = read_study(tmp_path)
    assert study.kind == "mammo"
    assert study.present_views == ["L-CC", "L-MLO", "R-CC", "R-MLO"]
    assert study.missing_views == []
    assert [v.laterality for v in study.views] == ["L", "L", "R", "R"]
    assert study.views[0].shape == (583, 383)


def test_list_of_files_with_family_members_and_a_missing_view(write_mammo, tmp_path):
    files = [
        write_mammo(tmp_path, "a.dcm", "L", "XCCL"),
        write_mammo(tmp_path, "b.dcm", "R", "ML"),
        write_mammo(tmp_path, "c.dcm", "R", "FB"),
    ]
    study = read_study(files)
    assert study.present_views == ["L-CC", "R-CC", "R-MLO"]
    assert study.missing_views == ["L-MLO"]
    assert any("missing L-MLO" in w for w in study.warnings)


def test_view_code_sequence_and_laterality_fallback(write_mammo, tmp_path):
    path = write_mammo(tmp_path, "a.dcm", None, None, Laterality="R",
                       ViewCodeSequence=code("399162004", "cranio-caudal"))
    assert read_study(path).present_views == ["R-CC"]
    path = write_mammo(tmp_path, "b.dcm", "L", None, ViewCodeSequence=code("99999", "latero-medial oblique"))
    assert read_study(path).present_views == ["L-MLO"]


def test_for_presentation_wins_over_for_processing(write_mammo, tmp_path):
    write_mammo(tmp_path, "proc.dcm", "L", "CC", PresentationIntentType="FOR PROCESSING", InstanceNumber=9)
    write_mammo(tmp_path, "pres.dcm", "L", "CC", PresentationIntentType="FOR PRESENTATION", InstanceNumber=1)
    study = read_study(tmp_path)
    assert len(study.views) == 1 and study.sources[0].path.endswith("pres.dcm")
    assert any("ignored FOR PROCESSING image proc.dcm" in w for w in study.warnings)


def test_duplicates_keep_the_standard_view_then_the_later_instance(write_mammo, tmp_path):
    write_mammo(tmp_path, "xccl.dcm", "R", "XCCL", InstanceNumber=5)
    write_mammo(tmp_path, "cc1.dcm", "R", "CC", InstanceNumber=1)
    write_mammo(tmp_path, "cc2.dcm", "R", "CC", InstanceNumber=2)
    study = read_study(tmp_path)
    assert study.sources[0].path.endswith("cc2.dcm")
    assert sum("duplicate" in w for w in study.warnings) == 2


def test_unrecognised_views_are_reported(write_mammo, tmp_path):
    path = write_mammo(tmp_path, "x.dcm", None, "MLO")
    with pytest.raises(StudyReadError, match="laterality"):
        read_study(path)


@pytest.mark.parametrize(
    "position, family",
    [("CC", "CC"), ("XCCL", "CC"), ("XCCM", "CC"), ("FB", "CC"), ("MLO", "MLO"), ("ML", "MLO"),
     ("LM", "MLO"), ("LMO", "MLO"), ("SIO", "MLO"), ("AT", None)],
)
def test_view_families(position, family):
    assert mammo.view_family(position) == family


def test_real_folder_falls_back_to_the_decodable_duplicate(shared_data):
    """The shared mammo folder holds one view twice: JPEG 2000 (decodable) and 12-bit lossy JPEG (no decoder does it)."""
    folder = shared_data / "dicom" / "mammo"
    study = read_study(folder)
    assert study.kind == "mammo"
    assert [v.view for v in study.views] == ["L-MLO"]
    assert study.views[0].source.path.endswith("MG1_J2KI.dcm")
    assert any("MG1_JPLY.dcm cannot be decoded" in w and "used MG1_J2KI.dcm" in w for w in study.warnings)
    assert "L-MLO: ignored duplicate image MG1_JPLY.dcm (kept MG1_J2KI.dcm)" in study.warnings


def test_undecodable_file_alone_is_one_readable_line(shared_data):
    import subprocess
    import sys

    path = shared_data / "dicom" / "mammo" / "MG1_JPLY.dcm"
    r = subprocess.run([sys.executable, "-m", "radfound.cli.main", "inspect", str(path)], capture_output=True, text=True)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "MG1_JPLY.dcm" in lines[0] and "cannot be decoded" in lines[0]


def test_spot_magnification_and_implant_displaced_views_never_replace_the_standard_view(write_mammo, tmp_path):
    write_mammo(tmp_path, "lcc.dcm", "L", "CC", InstanceNumber=1)
    write_mammo(tmp_path, "lmlo.dcm", "L", "MLO", InstanceNumber=2)
    # Taken later, same size: without the modifier they would win as "the retake".
    write_mammo(tmp_path, "lcc_spot.dcm", "L", "CC", InstanceNumber=5,
                ViewModifierCodeSequence=code("399055006", "Spot Compression"))  # top level, as some files do
    nested = code("399162004", "cranio-caudal")
    nested[0].ViewModifierCodeSequence = code("399163009", "Magnification")  # the standard place
    write_mammo(tmp_path, "lcc_mag.dcm", "L", "CC", InstanceNumber=6, ViewCodeSequence=nested)
    write_mammo(tmp_path, "lmlo_id.dcm", "L", "MLO", InstanceNumber=7,
                ViewModifierCodeSequence=code("399225005", "Implant Displaced"))
    study = read_study(tmp_path)
    assert [s.path.rsplit("/", 1)[-1] for s in study.sources] == ["lcc.dcm", "lmlo.dcm"]
    assert "L-CC: ignored modified view (Spot Compression) image lcc_spot.dcm (kept lcc.dcm)" in study.warnings
    assert "L-CC: ignored modified view (Magnification) image lcc_mag.dcm (kept lcc.dcm)" in study.warnings
    assert "L-MLO: ignored modified view (Implant Displaced) image lmlo_id.dcm (kept lmlo.dcm)" in study.warnings


def test_a_modified_view_alone_is_used_with_a_warning(write_mammo, tmp_path):
    path = write_mammo(tmp_path, "spot.dcm", "R", "CC", ViewModifierCodeSequence=code("399055006", "Spot Compression"))
    study = read_study(path)
    assert study.present_views == ["R-CC"]
    assert any("R-CC: only a modified view is available (Spot Compression, spot.dcm)" in w for w in study.warnings)


def _tomo(write_mammo, folder, name, frames=12, **tags):
    """A breast tomosynthesis object of the real mammogram: frame k is the 2D image scaled by (k + 1) / frames."""
    import pydicom

    path = write_mammo(folder, name, "L", "CC", SOPClassUID="1.2.840.10008.5.1.4.1.1.13.1.3", **tags)
    ds = pydicom.dcmread(path)
    base = ds.pixel_array.astype(np.float64)
    stack = np.stack([base * (k + 1) / frames for k in range(frames)]).astype(np.uint16)
    ds.set_pixel_data(stack, "MONOCHROME2", 12)
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.save_as(path, enforce_file_format=True)
    return path, stack


def test_2d_mammogram_is_preferred_over_tomosynthesis(write_mammo, tmp_path):
    write_mammo(tmp_path, "lcc_2d.dcm", "L", "CC", InstanceNumber=1)
    _tomo(write_mammo, tmp_path, "lcc_dbt.dcm", InstanceNumber=2)  # later instance: would win as a retake
    study = read_study(tmp_path)
    assert study.sources[0].path.endswith("lcc_2d.dcm") and study.sources[0].frame is None
    assert "L-CC: ignored tomosynthesis image lcc_dbt.dcm (kept lcc_2d.dcm)" in study.warnings


def test_tomosynthesis_alone_uses_its_central_frame_decoding_only_that_one(write_mammo, tmp_path, monkeypatch):
    from radfound.study import dicom_study

    path, stack = _tomo(write_mammo, tmp_path, "dbt.dcm")
    decoded = []
    real_decode = dicom_study.decode

    def spy(ds, where, index=None):
        decoded.append(index)
        return real_decode(ds, where, index)

    monkeypatch.setattr(dicom_study, "decode", spy)
    study = read_study(path)
    assert decoded == [6]  # one frame decoded, not 12
    np.testing.assert_array_equal(study.views[0].pixels, stack[6].astype(np.float32))
    assert study.sources[0].frame == 7
    assert any("only a breast tomosynthesis object is available (dbt.dcm); used its central frame 7 of 12" in w
               for w in study.warnings)
