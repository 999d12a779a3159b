"""Batch drafting with the real engine (tiny random model) against a real Orthanc: round trip, failures,
server down at start and mid-batch, and a batch killed with SIGKILL that resumes with every study done once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest

from outputs.validators import unexpected_warnings, validate_sr
from pacs_helpers import chest_studies, ct_series, fast_settings, upload_all
from radfound.config import PRELIMINARY_NOTICE
from radfound.errors import PacsError
from radfound.pacs.batch import JOURNAL_NAME, RETRIEVED_DIR, EngineDrafter, ServerSource, output_paths, run_batch
from radfound.pacs.dicomweb import DicomWebClient
from radfound.pacs.journal import Journal
from radfound.pacs.orthanc import free_port

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def engine(tiny_model_dir):
    return EngineDrafter(tiny_model_dir, max_new_tokens=24)


class CountingDrafter:
    """The real engine, counting calls and optionally running a hook (e.g. stop the PACS) after call N."""

    def __init__(self, engine, after: int | None = None, hook=None):
        self.engine, self.after, self.hook, self.calls = engine, after, hook, 0

    def __call__(self, study):
        draft = self.engine(study)
        self.calls += 1
        if self.hook and self.calls == self.after:
            self.hook()
        return draft


def source_uids(study_files) -> dict[str, set[str]]:
    """Study UID -> SOP Instance UIDs of the uploaded images."""
    out: dict[str, set[str]] = {}
    for files in study_files:
        for f in files:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
            out.setdefault(str(ds.StudyInstanceUID), set()).add(str(ds.SOPInstanceUID))
    return out


def srs_in_pacs(pacs: DicomWebClient, study_uid: str) -> list[dict]:
    return pacs.search_instances(study_uid, modality="SR")


def assert_each_study_done_once(out: Path, pacs: DicomWebClient, uids: dict[str, set[str]], tmp: Path) -> None:
    """Journal: done with one completion; PACS: exactly one SR per study, valid, referencing every image."""
    with Journal(out / JOURNAL_NAME) as j:
        rows = {r.key: r for r in j.rows()}
    assert set(rows) == set(uids)
    for uid, images in uids.items():
        assert (rows[uid].state, rows[uid].completions) == ("done", 1), uid
        found = srs_in_pacs(pacs, uid)
        assert len(found) == 1, f"{uid}: {len(found)} SRs in the PACS"
        sr = pacs.retrieve_instance(uid, found[0]["0020000E"]["Value"][0], found[0]["00080018"]["Value"][0])
        assert sr.SOPInstanceUID == rows[uid].sr_uid
        path = tmp / f"{uid}.from-pacs.dcm"
        sr.save_as(path, enforce_file_format=True)
        assert unexpected_warnings(validate_sr(path)) == []
        evidence = {i.ReferencedSOPInstanceUID for s in sr.CurrentRequestedProcedureEvidenceSequence
                    for se in s.ReferencedSeriesSequence for i in se.ReferencedSOPSequence}
        assert evidence == images
    assert not list(out.rglob("*.part"))
    assert not (out / RETRIEVED_DIR).exists()  # retrieved images (patient data) never outlive a run


def test_round_trip_query_draft_store_find_back(orthanc, pacs, engine, tmp_path):
    studies = chest_studies(tmp_path / "src", 3) + [ct_series()]
    upload_all(orthanc, studies)
    uids = source_uids(studies)
    out = tmp_path / "out"

    summary = run_batch(ServerSource(pacs), out, engine, store=pacs, workers=2, progress=False)
    assert (summary.succeeded, summary.failed, summary.skipped) == (4, 0, 0), summary.failures
    assert_each_study_done_once(out, pacs, uids, tmp_path)
    for uid in uids:
        paths = output_paths(out, uid)
        assert paths["txt"].read_text().startswith(PRELIMINARY_NOTICE)
        record = json.loads(paths["json"].read_text())
        assert record["study"]["study_uid"] == uid and record["model"] == engine.model.name
    assert set(summary.stage_seconds) >= {"retrieve", "decode", "encode", "generate", "write", "store"}
    assert not (out / ".retrieved").exists() or not any((out / ".retrieved").iterdir())

    count = orthanc.instance_count()
    again = run_batch(ServerSource(pacs, modality="CR"), out, engine, store=pacs, progress=False)
    assert (again.succeeded, again.failed, again.skipped) == (0, 0, 3)
    assert orthanc.instance_count() == count


def test_studies_holding_only_reports_neither_fail_nor_stop_the_batch(orthanc, pacs, engine, tmp_path):
    """Six studies with nothing but an SR, then two chest studies: the SR-only ones are left out (QIDO's
    ModalitiesInStudy), so they can neither fail every night nor pass for an outage that stops the batch."""
    from radfound.outputs.sr import write_sr
    from radfound.study.reader import read_study
    from radfound.tasks.results import Draft

    report_only = chest_studies(tmp_path / "reports", 6, start=20)
    for (image,) in report_only:
        sr = write_sr(Draft("No acute findings.", "Normal.", "earlier-model", "CPU"), read_study(image),
                      tmp_path / "sr" / f"{image.stem}.dcm")
        orthanc.upload(sr)  # the study's only object
    images = chest_studies(tmp_path / "src", 2)
    upload_all(orthanc, images)
    summary = run_batch(ServerSource(pacs), tmp_path / "out", engine, workers=1, progress=False,
                        stop_after_pacs_failures=5)
    assert (summary.succeeded, summary.failed, summary.stopped) == (2, 0, None), summary.failures


def test_folder_batch_records_a_failing_study_and_goes_on(engine, tmp_path):
    src = tmp_path / "src"
    chest_studies(src, 3)
    (broken,) = chest_studies(src, 1, start=7)[0]
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])  # header intact, pixels truncated
    broken_uid = str(pydicom.dcmread(broken, stop_before_pixels=True).StudyInstanceUID)

    summary = run_batch(src, tmp_path / "out", engine, workers=2, progress=False)
    assert (summary.succeeded, summary.failed) == (3, 1)
    assert summary.failures[0][0] == broken_uid and "study0007" in summary.failures[0][1]  # names the file
    with Journal(tmp_path / "out" / JOURNAL_NAME) as j:
        row = j.get(broken_uid)
    assert row.state == "failed" and row.reason == summary.failures[0][1] and row.reason
    for sr in (tmp_path / "out").glob("*.sr.dcm"):
        assert unexpected_warnings(validate_sr(sr)) == []
    assert len(list((tmp_path / "out").glob("*.sr.dcm"))) == 3
    assert not output_paths(tmp_path / "out", broken_uid)["sr"].exists()


def test_a_study_whose_outputs_cannot_all_be_written_leaves_none(engine, tmp_path):
    """The SR and text are written before the JSON; when the JSON fails, the study keeps no partial set."""
    (study,) = chest_studies(tmp_path / "src", 1)
    uid = str(pydicom.dcmread(study[0], stop_before_pixels=True).StudyInstanceUID)
    paths = output_paths(tmp_path / "out", uid)
    paths["json"].mkdir(parents=True)  # something in the way of the last output
    summary = run_batch(tmp_path / "src", tmp_path / "out", engine, progress=False)
    assert summary.failed == 1 and summary.failures[0][1] == f"{paths['json']}: is a folder; give a file name"
    assert not paths["sr"].exists() and not paths["txt"].exists()


def test_outputs_get_the_usual_file_mode(engine, tmp_path):
    """Readable as any file the user writes (umask applies), not 0600 as the temp file was created."""
    chest_studies(tmp_path / "src", 1)
    run_batch(tmp_path / "src", tmp_path / "out", engine, progress=False)
    mask = os.umask(0o022)
    os.umask(mask)
    written = [p for p in (tmp_path / "out").iterdir() if p.suffix in (".dcm", ".txt", ".json")]
    assert len(written) == 3
    assert {p.stat().st_mode & 0o777 for p in written} == {0o666 & ~mask}


def test_rerun_removes_what_a_killed_run_left_behind(engine, tmp_path):
    """SIGKILL skips every clean-up: the next run deletes the stale temp files and retrieved images it finds."""
    src, out = tmp_path / "src", tmp_path / "out"
    (study,) = chest_studies(src, 1)
    uid = str(pydicom.dcmread(study[0], stop_before_pixels=True).StudyInstanceUID)
    out.mkdir()
    stale = [out / f".{uid}.txt.k1ll3d.part", out / f".{uid}.sr.dcm.x7q2.part"]
    for part in stale:
        part.write_text("half a draft")
    (out / RETRIEVED_DIR / uid).mkdir(parents=True)
    (out / RETRIEVED_DIR / uid / "image.dcm").write_bytes(study[0].read_bytes())
    unrelated = out / ".notes.txt.keep.part"  # not one of the batch's outputs: not ours to delete
    unrelated.write_text("someone else's")

    summary = run_batch(src, out, engine, progress=False)
    assert summary.succeeded == 1
    assert not any(p.exists() for p in stale)
    assert not (out / RETRIEVED_DIR).exists()
    assert unrelated.exists()
    assert output_paths(out, uid)["txt"].read_text().strip()


def test_real_mammogram_round_trip_through_orthanc(orthanc, pacs, engine, tmp_path, shared_data):
    """The real 12-bit JPEG 2000 mammogram (its header says RG): stored, queried, retrieved in its own
    transfer syntax, drafted, and its SR stored and found back; then the same file drafted from a folder."""
    src = shared_data / "dicom" / "mammo" / "MG1_J2KI.dcm"
    orthanc.upload(src)
    uids = source_uids([[src]])
    out = tmp_path / "out"
    summary = run_batch(ServerSource(pacs), out, engine, store=pacs, progress=False)
    assert (summary.succeeded, summary.failed) == (1, 0), summary.failures
    assert_each_study_done_once(out, pacs, uids, tmp_path)

    (tmp_path / "mammo").mkdir()
    (tmp_path / "mammo" / src.name).write_bytes(src.read_bytes())
    folder = run_batch(tmp_path / "mammo", tmp_path / "out-folder", engine, progress=False)
    assert (folder.succeeded, folder.failed) == (1, 0), folder.failures
    for sr in (tmp_path / "out-folder").glob("*.sr.dcm"):
        assert unexpected_warnings(validate_sr(sr)) == []


def test_server_down_at_start_is_a_pacs_error(engine, tmp_path):
    down = DicomWebClient(fast_settings(f"http://127.0.0.1:{free_port()}/dicom-web"))
    with pytest.raises(PacsError, match="cannot connect"):
        run_batch(ServerSource(down, modality="CR"), tmp_path / "out", engine, progress=False)


def test_store_to_a_down_server_fails_then_resumes_with_store_only(orthanc, pacs, engine, tmp_path):
    studies = chest_studies(tmp_path / "src", 2)
    uids = source_uids(studies)
    orthanc.stop()  # the PACS is down for the whole first run
    drafter = CountingDrafter(engine)
    first = run_batch(tmp_path / "src", tmp_path / "out", drafter, store=pacs, workers=1, progress=False)
    assert (first.succeeded, first.failed) == (0, 2)
    assert all("STOW-RS store failed after 3 attempts: cannot connect" in r for _, r in first.failures)
    assert drafter.calls == 2

    orthanc.start()
    upload_all(orthanc, studies)
    second = run_batch(tmp_path / "src", tmp_path / "out", drafter, store=pacs, workers=1, progress=False)
    assert (second.succeeded, second.failed, second.skipped) == (2, 0, 0)
    assert drafter.calls == 2  # drafts on disk were stored, not redrafted
    assert_each_study_done_once(tmp_path / "out", pacs, uids, tmp_path)


def test_server_stopping_mid_batch_then_rerun_completes_each_study_once(orthanc, pacs, engine, tmp_path):
    studies = chest_studies(tmp_path / "src", 4)
    upload_all(orthanc, studies)
    uids = source_uids(studies)
    out = tmp_path / "out"
    drafter = CountingDrafter(engine, after=2, hook=orthanc.stop)  # the PACS goes away during study 2

    first = run_batch(ServerSource(pacs), out, drafter, store=pacs, workers=1, progress=False)
    assert (first.succeeded, first.failed) == (1, 3)
    reasons = sorted(r for _, r in first.failures)
    assert any("WADO-RS study retrieve failed" in r for r in reasons)
    assert any("STOW-RS store failed" in r for r in reasons)
    assert not list(out.rglob("*.dcm")) or all(p.name.endswith(".sr.dcm") for p in out.rglob("*.dcm"))  # no images left

    orthanc.start()
    second = run_batch(ServerSource(pacs), out, drafter, store=pacs, workers=1, progress=False)
    assert (second.succeeded, second.failed, second.skipped) == (3, 0, 1)
    assert drafter.calls == 4  # study 2 was stored from disk; studies 3 and 4 drafted now
    assert_each_study_done_once(out, pacs, uids, tmp_path)


def test_a_pacs_outage_stops_the_batch_early_and_the_rerun_finishes(orthanc, pacs, engine, tmp_path):
    studies = chest_studies(tmp_path / "src", 5)
    upload_all(orthanc, studies)
    uids = source_uids(studies)
    out = tmp_path / "out"
    drafter = CountingDrafter(engine, after=2, hook=orthanc.stop)

    first = run_batch(ServerSource(pacs), out, drafter, store=pacs, workers=1, progress=False,
                      stop_after_pacs_failures=2)
    assert (first.succeeded, first.failed, first.not_attempted) == (1, 2, 2)
    assert "2 studies in a row failed on the PACS" in first.stopped and "left pending" in str(first)
    with Journal(out / JOURNAL_NAME) as j:
        assert j.counts() == {"done": 1, "failed": 2, "pending": 2}

    orthanc.start()
    second = run_batch(ServerSource(pacs), out, drafter, store=pacs, workers=1, progress=False)
    assert (second.succeeded, second.failed, second.skipped, second.stopped) == (4, 0, 1, None)
    assert_each_study_done_once(out, pacs, uids, tmp_path)


def _done_count(journal: Path) -> int:
    if not journal.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM studies WHERE state = 'done'").fetchone()[0]
    except sqlite3.OperationalError:  # table not created yet
        return 0


def test_batch_killed_with_sigkill_resumes_with_every_study_done_once(orthanc, pacs, tiny_model_dir, tmp_path):
    """Kill ``radfound batch`` twice at different points (after 1, then after 4 studies), then let it finish."""
    n = 7
    studies = chest_studies(tmp_path / "src", n)
    upload_all(orthanc, studies)
    uids = source_uids(studies)
    out = tmp_path / "out"
    journal = out / JOURNAL_NAME
    cmd = [sys.executable, "-m", "radfound.cli.main", "batch", "--server", orthanc.dicomweb_url, "--modality", "CR",
           "--out", str(out), "--store", "--model", str(tiny_model_dir), "--workers", "2", "--no-progress", "--max-new-tokens", "24"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    for kill_after in (1, 4):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
        try:
            deadline = time.monotonic() + 240
            while _done_count(journal) < kill_after and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            done_at_kill = _done_count(journal)
            assert proc.poll() is None, f"batch ended before it could be killed: {proc.communicate()}"
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.kill()
            proc.communicate()
        assert kill_after <= done_at_kill < n

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    skipped = int(rerun.stdout.split(" failed, ")[1].split(" skipped")[0])
    assert skipped >= done_at_kill
    assert_each_study_done_once(out, pacs, uids, tmp_path)


def test_a_folder_file_without_file_meta_is_read_not_skipped(tmp_path, pydicom_data):
    """Older exports have no preamble and no File Meta: the batch finds them as the study reader reads them
    (pydicom's real OT-PAL-8-face.dcm); a text, an empty and a cut-short file are skipped, each with the
    reason the study reader gives."""
    import shutil

    from radfound.pacs.batch import FolderSource

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(pydicom_data("OT-PAL-8-face.dcm"), src / "face.dcm")
    (src / "notes.txt").write_text("not an image")
    (src / "empty.dcm").write_bytes(b"")
    (src / "cut.dcm").write_bytes(pydicom_data("CT_small.dcm").read_bytes()[:200])  # cut after the File Meta
    source = FolderSource(src)
    assert len(source.study_keys()) == 1
    skipped = {p.name: why for p, why in source.skipped}
    assert skipped["notes.txt"] == "not a DICOM file"
    assert skipped["empty.dcm"] == "empty file (0 bytes)"
    assert skipped["cut.dcm"].startswith("corrupt or truncated DICOM file"), skipped["cut.dcm"]
    assert len(skipped) == 3
