"""``radfound bench --batch``: the throughput benchmark of docs/scale-out.md runs end to end on a real Orthanc."""

from __future__ import annotations

import json

import pytest

from radfound.cli.main import main
from radfound.pacs.orthanc import orthanc_available


def test_batch_bench_drafts_and_stores_every_study_and_reports_the_rate(tiny_model_dir, capsys):
    if orthanc_available():
        pytest.skip(orthanc_available())
    assert main(["bench", "--batch", "3", "--engine", "local", "--workers", "1,2", "--model", str(tiny_model_dir),
                 "--tokens", "8", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["workers"] for r in results] == [1, 2]
    for r in results:
        assert (r["succeeded"], r["failed"], r["srs_in_pacs"]) == (3, 0, 3)
        assert r["studies_per_min"] > 0 and r["startup_s"] == 0.0  # the local batch has no start-up


@pytest.mark.parametrize("argv", [["--batch", "0"], ["--batch", "3", "--workers", "0"],
                                  ["--batch", "3", "--workers", "one"], ["--batch", "3", "--config", "huge"]])
def test_bad_batch_bench_options_are_one_line_errors(argv, capsys):
    assert main(["bench", *argv]) != 0
    err = capsys.readouterr().err
    assert "--batch" in err and len(err.strip().splitlines()) == 1
