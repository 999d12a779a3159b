"""``radfound report STUDY --sr OUT.dcm`` with the real engine writes a valid SR of that study."""

from __future__ import annotations

import pydicom

from outputs.validators import unexpected_warnings, validate_sr
from radfound.cli.main import main


def test_report_command_writes_a_valid_sr(tiny_model_dir, pydicom_data, tmp_path, capsys):
    src = pydicom_data("RG1_UNCR.dcm")
    out = tmp_path / "draft-sr.dcm"
    rc = main(["report", str(src), "--model", str(tiny_model_dir), "--max-new-tokens", "16", "--sr", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert unexpected_warnings(validate_sr(out)) == []
    sr, source = pydicom.dcmread(out), pydicom.dcmread(src, stop_before_pixels=True)
    assert sr.StudyInstanceUID == source.StudyInstanceUID and sr.VerificationFlag == "UNVERIFIED"
    assert sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0] \
        .ReferencedSOPSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
