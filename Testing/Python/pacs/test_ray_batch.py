"""``radfound batch --engine ray`` on a real local Ray cluster (``ray start --head``) against a real Orthanc.

The scenario the feature exists for: a night's studies drafted by worker actors while a worker is killed
(``ray.kill``) and then the driver itself is killed with SIGKILL; the re-run finishes and every study is done
exactly once, with exactly one valid SR in the PACS. Plus a folder batch from Python (the Slicer console's
way) with a bad study in it, and the refusals.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ray_helpers import RAY_CLIENT_ENV, RayCluster, ray_env  # noqa: E402

os.environ.update(RAY_CLIENT_ENV)  # before Ray is imported: it reads its auth mode once, and this process connects
ray = pytest.importorskip("ray", reason="Ray is the optional 'ray' extra: pip install 'radfound[ray]'")

from pacs_helpers import chest_studies, upload_all  # noqa: E402
from test_batch import REPO, _done_count, assert_each_study_done_once, source_uids  # noqa: E402

from radfound.errors import ConfigError, ModelError  # noqa: E402
from radfound.pacs.batch import JOURNAL_NAME  # noqa: E402
from radfound.pacs.journal import Journal  # noqa: E402
from radfound.pacs.ray_batch import RAY_NAMESPACE, WORKER_PREFIX, RayOptions, run_batch_ray  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    head = RayCluster(num_cpus=2).start()
    yield head
    head.stop()


def _worker_names() -> list[str]:
    return sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                  if a["name"].startswith(WORKER_PREFIX))


def _wait_for(journal: Path, done: int, proc: subprocess.Popen, timeout_s: float = 300) -> int:
    deadline = time.monotonic() + timeout_s
    while _done_count(journal) < done and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    return _done_count(journal)


def test_worker_killed_then_driver_killed_then_rerun_drafts_every_study_once(cluster, orthanc, pacs, tiny_model_dir,
                                                                           tmp_path):
    n = 20
    studies = chest_studies(tmp_path / "src", n)
    upload_all(orthanc, studies)
    uids = source_uids(studies)
    out = tmp_path / "out"
    journal = out / JOURNAL_NAME
    cmd = [sys.executable, "-m", "radfound.cli.main", "batch", "--engine", "ray", "--address", cluster.address,
           "--server", orthanc.dicomweb_url, "--modality", "CR", "--out", str(out), "--store", "--workers", "2",
           "--model", str(tiny_model_dir), "--no-progress", "--max-new-tokens", "24"]
    env = {**ray_env(), "PYTHONPATH": str(REPO)}
    log = tmp_path / "driver.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=err, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        assert _wait_for(journal, 3, proc) >= 3, log.read_text()
        ray.init(address=cluster.address, namespace=RAY_NAMESPACE, log_to_driver=False)
        try:
            names = _worker_names()
            assert len(names) == 2, names  # one actor per --workers
            ray.kill(ray.get_actor(names[0], namespace=RAY_NAMESPACE))
            killed_at = _done_count(journal)
            assert _wait_for(journal, killed_at + 5, proc) >= killed_at + 5, log.read_text()
            assert len(_worker_names()) == 2 and names[0] not in _worker_names()  # replaced, not shrunk
        finally:
            ray.shutdown()
        done_at_kill = _done_count(journal)
        assert proc.poll() is None, f"batch ended before the driver could be killed: {log.read_text()}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert done_at_kill < n
    assert "died" in log.read_text() and "started a new one" in log.read_text()

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    skipped = int(rerun.stdout.split(" failed, ")[1].split(" skipped")[0])
    assert skipped >= done_at_kill
    assert_each_study_done_once(out, pacs, uids, tmp_path)


def test_folder_batch_from_python_records_a_bad_study_and_drafts_the_rest(cluster, tiny_model_dir, tmp_path):
    """The Slicer console's way (docs/scale-out.md): connect, then run_batch_ray on a folder."""
    studies = chest_studies(tmp_path / "src", 3)
    broken = studies[0][0]
    broken.write_bytes(broken.read_bytes()[:4000])  # header intact, pixel data cut: listed, then fails to read
    ray.init(address=cluster.address, namespace=RAY_NAMESPACE, log_to_driver=False)
    try:
        summary = run_batch_ray(tmp_path / "src", tmp_path / "out", model=tiny_model_dir, progress=False,
                                options=RayOptions(workers=2), max_new_tokens=16)
        assert ray.is_initialized()  # the caller's connection is left open
    finally:
        ray.shutdown()
    assert (summary.succeeded, summary.failed) == (2, 1), summary
    bad_key, reason = summary.failures[0]
    assert str(broken) in reason or "pixel" in reason.lower(), reason
    with Journal(tmp_path / "out" / JOURNAL_NAME) as j:
        rows = {r.key: r for r in j.rows()}
    assert rows[bad_key].state == "failed" and rows[bad_key].attempts == 1  # a bad study is not retried
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(bad_key)) == []
    assert sum(r.state == "done" for r in rows.values()) == 2
    for key, row in rows.items():
        if row.state == "done":
            assert Path(row.outputs["sr"]).parent == tmp_path / "out"  # written by the driver, in out_dir


def test_a_model_the_workers_cannot_load_is_one_line_and_leaves_no_output_folder(cluster, tmp_path):
    chest_studies(tmp_path / "src", 1)
    with pytest.raises(ModelError, match="could not load the model.*no-such-model"):
        run_batch_ray(tmp_path / "src", tmp_path / "out", model=tmp_path / "no-such-model", progress=False,
                      options=RayOptions(address=cluster.address, workers=1))
    assert not (tmp_path / "out").exists()


def test_ray_only_options_are_refused_without_the_ray_engine(tmp_path, capsys):
    from radfound.cli.main import main

    chest_studies(tmp_path / "src", 1)
    assert main(["batch", "--input", str(tmp_path / "src"), "--out", str(tmp_path / "out"),
                 "--address", "127.0.0.1:1"]) != 0
    assert "--address" in capsys.readouterr().err
    assert main(["batch", "--input", str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--engine", "ray",
                 "--index"]) != 0
    assert "--index" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_without_ray_installed_the_engine_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError, as without the extra
    chest_studies(tmp_path / "src", 1)
    with pytest.raises(ConfigError, match=r"radfound\[ray\]"):
        run_batch_ray(tmp_path / "src", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="--workers"):
        RayOptions(workers=0)
    with pytest.raises(ConfigError, match="--cpus-per-worker"):
        RayOptions(cpus_per_worker=0)


def test_a_replacement_that_cannot_load_the_model_retires_its_slot_and_the_others_finish(cluster, tiny_model_dir,
                                                                                        tmp_path, caplog):
    """Worker 0 dies after the model folder has gone: its replacement fails to load, the slot is retired, and
    worker 1 (model already in memory) drafts everything left; no study is lost or done twice."""
    import shutil
    import threading

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    chest_studies(tmp_path / "src", 16)
    out = tmp_path / "out"
    ray.init(address=cluster.address, namespace=RAY_NAMESPACE, log_to_driver=False)
    try:
        result: dict = {}
        batch = threading.Thread(target=lambda: result.update(summary=run_batch_ray(  # 160 tokens: outlasts a restart
            tmp_path / "src", out, model=model, progress=False, options=RayOptions(workers=2), max_new_tokens=160)))
        batch.start()
        deadline = time.monotonic() + 240
        while _done_count(out / JOURNAL_NAME) < 1 and batch.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        caplog.set_level("INFO", logger="radfound.pacs.ray_batch")
        model.rename(tmp_path / "model-gone")
        first = _worker_names()[0]
        ray.kill(ray.get_actor(first, namespace=RAY_NAMESPACE))
        batch.join(timeout=300)
        assert not batch.is_alive()
    finally:
        ray.shutdown()
    summary = result["summary"]
    assert (summary.succeeded, summary.failed) == (16, 0), summary.failures
    assert "could not load the model" in caplog.text and "going on with 1 workers" in caplog.text, caplog.text
    with Journal(out / JOURNAL_NAME) as j:
        assert {(r.state, r.completions) for r in j.rows()} == {("done", 1)}


def test_workers_the_cluster_cannot_place_are_reported_with_what_they_need(cluster, tiny_model_dir, tmp_path):
    chest_studies(tmp_path / "src", 1)
    with pytest.raises(ConfigError, match="placed 0 of 1 workers.*needs 8 CPU.*cluster has 2 CPU"):
        run_batch_ray(tmp_path / "src", tmp_path / "out", model=tiny_model_dir, progress=False,
                      options=RayOptions(address=cluster.address, workers=1, cpus_per_worker=8, start_timeout_s=5))
    assert not (tmp_path / "out").exists()
