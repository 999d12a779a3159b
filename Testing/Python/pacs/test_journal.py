"""The batch journal's state machine on a real SQLite file (WAL), including reopening after a 'crash'."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from radfound.errors import ConfigError
from radfound.pacs.batch import JOURNAL_NAME, run_batch
from radfound.pacs.journal import Journal
from radfound.tasks.results import Draft


def test_states_skip_done_and_resume_running(tmp_path):
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        j.add(["a", "b", "c"])
        assert j.claim("a") == "pending"
        j.written("a", "2.25.1", {"sr": "a.sr.dcm"}, {"write": 0.1})
        j.done("a")
        assert j.claim("b") == "pending"  # then the process "dies": b stays running
        assert j.claim("c") == "pending"
        j.fail("c", "cannot connect")
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    with Journal(path) as j:  # the re-run
        j.add(["a", "b", "c"])  # known studies keep their state
        assert j.claim("a") is None  # done: skipped
        assert j.claim("b") == "running"  # resumed from scratch
        assert j.claim("c") == "failed" and j.get("c").reason is None
        rows = {r.key: r for r in j.rows()}
        assert rows["a"].completions == 1 and rows["a"].sr_uid == "2.25.1" and rows["a"].outputs == {"sr": "a.sr.dcm"}
        assert rows["b"].attempts == 2 and rows["c"].attempts == 2


def test_failure_after_writing_resumes_with_store_only(tmp_path):
    with Journal(tmp_path / "j.sqlite") as j:
        j.add(["s"])
        j.claim("s")
        j.written("s", "2.25.7", {"sr": "s.sr.dcm"}, {})
        j.fail("s", "STOW-RS store failed after 3 attempts: cannot connect")
        assert j.get("s").state == "failed" and j.get("s").sr_uid == "2.25.7"
        assert j.claim("s") == "written"  # only the store step is left
        j.done("s")
        j.done("s")  # a second 'done' is a no-op: done exactly once
        assert j.get("s").completions == 1
        j.fail("s", "late error")  # cannot un-finish a study
        assert j.get("s").state == "done"
        assert j.counts() == {"done": 1}


def test_a_second_batch_on_the_same_folder_is_refused_until_the_first_ends(tmp_path, pydicom_data):
    out = tmp_path / "out"
    out.mkdir()
    first = Journal(out / JOURNAL_NAME)
    (tmp_path / "input").mkdir()
    shutil.copy(pydicom_data("CT_small.dcm"), tmp_path / "input" / "ct.dcm")
    drafter = lambda study: Draft("No acute abnormality.", "Normal.", model="t", provider="CPU")  # noqa: E731
    with pytest.raises(ConfigError, match="another radfound batch is already using this output folder"):
        run_batch(tmp_path / "input", out, drafter=drafter, progress=False)
    first.close()
    summary = run_batch(tmp_path / "input", out, drafter=drafter, progress=False)
    assert (summary.succeeded, summary.failed) == (1, 0)
