"""``radfound models install``: a real HTTP server on 127.0.0.1, real files, real failures; no HTTP mocks."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from radfound.errors import ModelError
from radfound.registry.download import DownloadCancelled
from radfound.registry.install import install_model
from radfound.registry.manifest import verify_model_dir

from model_server import ModelServer  # Testing/Python/model_server.py (pytest puts Testing/Python on sys.path)

FILES = {"config.json": b'{"model_type": "radfound"}', "onnx/weights.bin": os.urandom(3_000_000),
         "tokenizer.json": b"{}" * 1000}


@pytest.fixture()
def served(tmp_path):
    root = tmp_path / "served" / "tiny-remote"
    for rel, data in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    with ModelServer(tmp_path / "served") as server:
        yield server


def write_registry(path: Path, server: ModelServer, **override) -> Path:
    files = [{"path": rel, "urls": [f"{server.url}/tiny-remote/{rel}"], "sha256": hashlib.sha256(d).hexdigest(),
              "size": len(d)} for rel, d in FILES.items()]
    entry = {"name": "tiny-remote", "family": "radfound", "version": "1.0", "licence": "Apache-2.0",
             "memory_mb": 10, "install": "download", "files": files, **override}
    path.write_text(json.dumps({"models": [entry]}))
    return path


@pytest.fixture()
def env(tmp_path, served, monkeypatch):
    store = tmp_path / "store"
    registry = write_registry(tmp_path / "registry.json", served)
    monkeypatch.setenv("RADFOUND_MODELS", str(store))
    monkeypatch.setenv("RADFOUND_REGISTRY", str(registry))
    return store, registry, served


def _quick(**kw):
    return {"backoff": 0.01, "timeout": 5, **kw}


def test_install_downloads_checks_and_places_the_model(env):
    store, _, server = env
    path = install_model("tiny-remote", **_quick())
    assert path == store / "tiny-remote"
    manifest = verify_model_dir(path, check_hashes=True)
    assert (path / "onnx" / "weights.bin").read_bytes() == FILES["onnx/weights.bin"]
    assert manifest["model_version"] == "1.0" and sorted(manifest["files"]) == sorted(FILES)
    assert sorted(p.name for p in store.iterdir()) == ["tiny-remote"]  # no lock, partial or .part left
    assert install_model("tiny-remote") == path  # a second install finds it and downloads nothing
    assert len(server.log) == 3


def test_a_dropped_connection_is_resumed_with_a_range_request(env):
    _, _, server = env
    server.drop_after["tiny-remote/onnx/weights.bin"] = 1_000_000
    server.drops_left["tiny-remote/onnx/weights.bin"] = 2
    path = install_model("tiny-remote", **_quick())
    assert (path / "onnx" / "weights.bin").read_bytes() == FILES["onnx/weights.bin"]
    ranges = [r for p, r in server.log if p == "tiny-remote/onnx/weights.bin"]
    assert ranges[0] is None and len(ranges) == 3 and all(r and r.startswith("bytes=") for r in ranges[1:])
    assert 500_000 < int(ranges[1][6:].rstrip("-")) < len(FILES["onnx/weights.bin"])  # asked only for the rest


def test_a_download_killed_midway_resumes_where_it_stopped(env, tmp_path):
    store, registry, server = env
    server.rate["tiny-remote/onnx/weights.bin"] = 1_000_000  # 3 s for the file
    cmd = [sys.executable, "-m", "radfound.cli.main", "models", "install", "tiny-remote", "--quiet"]
    proc = subprocess.Popen(cmd, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    part = store / ".tiny-remote.partial" / "onnx" / "weights.bin.part"
    deadline = time.monotonic() + 60
    while not (part.exists() and part.stat().st_size > 500_000):
        assert time.monotonic() < deadline and proc.poll() is None, "the download did not start"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = part.stat().st_size
    assert 0 < kept < len(FILES["onnx/weights.bin"]) and not (store / "tiny-remote").exists()
    assert (store / ".tiny-remote.lock").exists()  # the killed process held the lock: the next run breaks it
    server.rate.clear()
    done = subprocess.run(cmd, env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (store / "tiny-remote" / "onnx" / "weights.bin").read_bytes() == FILES["onnx/weights.bin"]
    last = [r for p, r in server.log if p == "tiny-remote/onnx/weights.bin"][-1]
    assert last == f"bytes={kept}-"


def test_a_missing_file_on_the_server_is_named_and_the_mirror_is_tried(env, tmp_path):
    store, registry, server = env
    data = json.loads(registry.read_text())
    data["models"][0]["files"][1]["urls"].insert(0, f"{server.url}/gone/weights.bin")
    registry.write_text(json.dumps(data))
    assert install_model("tiny-remote", **_quick()).is_dir()  # the second URL served it
    data["models"][0]["files"][1]["urls"] = [f"{server.url}/gone/weights.bin"]
    data["models"][0]["name"] = "other"
    registry.write_text(json.dumps(data))
    with pytest.raises(ModelError, match="HTTP 404") as err:
        install_model("other", **_quick())
    assert "weights.bin" in str(err.value) and not (store / "other").exists()


def test_a_wrong_sha256_is_refused_and_nothing_is_installed(env):
    store, registry, _ = env
    data = json.loads(registry.read_text())
    data["models"][0]["files"][1]["sha256"] = "0" * 64
    registry.write_text(json.dumps(data))
    with pytest.raises(ModelError, match="sha256") as err:
        install_model("tiny-remote", **_quick())
    assert "weights.bin" in str(err.value)
    assert not (store / "tiny-remote").exists()
    assert not list((store / ".tiny-remote.partial").rglob("weights.bin*"))  # the bad bytes are gone


def test_a_server_error_is_retried_then_reported(env):
    _, _, server = env
    server.status["tiny-remote/onnx/weights.bin"] = 503
    with pytest.raises(ModelError, match="HTTP 503"):
        install_model("tiny-remote", **_quick(retries=2))
    assert sum(p == "tiny-remote/onnx/weights.bin" for p, _ in server.log) == 3  # first try and two retries


def test_not_enough_disk_space_is_said_before_downloading(env, tmp_path):
    store, registry, server = env
    quota = tmp_path / "quota"
    quota.mkdir()
    code = ("import os, sys; from radfound.registry.install import install_model\n"
            "try:\n install_model('tiny-remote', backoff=0.01)\n"
            "except Exception as e:\n print(type(e).__name__, e); sys.exit(3)\n")
    script = (f"mount -t tmpfs -o size=2m tmpfs {quota} || exit 77; "
              f"RADFOUND_MODELS={quota}/store {sys.executable} -c \"$CODE\"")
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True,
                          env={**os.environ, "CODE": code}, timeout=60)
    if done.returncode == 77:
        pytest.skip("cannot mount a small tmpfs here (no user namespaces)")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "not enough disk space" in done.stdout and "MB are free" in done.stdout
    assert not any(p == "tiny-remote/onnx/weights.bin" for p, _ in server.log)  # refused before any download


def test_two_installs_at_once_give_one_complete_model(env):
    store, _, server = env
    server.rate["tiny-remote/onnx/weights.bin"] = 3_000_000
    results, errors = [], []

    def run():
        try:
            results.append(install_model("tiny-remote", **_quick()))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(results)) == 1
    verify_model_dir(results[0], check_hashes=True)
    assert sum(p == "tiny-remote/onnx/weights.bin" for p, _ in server.log) == 1  # downloaded once


def test_cancel_keeps_the_partial_file_for_the_next_install(env):
    store, _, server = env
    server.rate["tiny-remote/onnx/weights.bin"] = 1_000_000
    cancel = threading.Event()

    def progress(what, done, total):
        if what == "downloading weights.bin" and done > 300_000:
            cancel.set()

    with pytest.raises(DownloadCancelled):
        install_model("tiny-remote", progress=progress, cancel=cancel, **_quick())
    assert not (store / "tiny-remote").exists()
    assert (store / ".tiny-remote.partial" / "onnx" / "weights.bin.part").stat().st_size > 300_000
    server.rate.clear()
    assert install_model("tiny-remote", **_quick()).is_dir()


def test_offline_install_from_a_folder_with_the_same_checks(env, tmp_path):
    store, _, server = env
    offline = tmp_path / "usb"
    offline.mkdir()
    for rel, data in FILES.items():
        (offline / Path(rel).name).write_bytes(data)  # placed by hand, flat
    (offline / "weights.bin").write_bytes(FILES["onnx/weights.bin"][:-1] + b"x")
    with pytest.raises(ModelError, match="sha256 differs"):
        install_model("tiny-remote", from_dir=offline)
    (offline / "weights.bin").write_bytes(FILES["onnx/weights.bin"])
    assert install_model("tiny-remote", from_dir=offline).is_dir()
    assert server.log == []  # nothing went over the network


def test_remove_frees_the_space_and_the_cli_lists_available_and_installed(env):
    store, _, _ = env
    run = lambda *a: subprocess.run([sys.executable, "-m", "radfound.cli.main", "models", *a],  # noqa: E731
                                    capture_output=True, text=True, env=os.environ.copy(), timeout=120)
    listed = run("list", "--json")
    entry = next(e for e in json.loads(listed.stdout) if e["name"] == "tiny-remote")
    assert entry["source"] == "available" and entry["size"] == sum(map(len, FILES.values()))
    assert run("install", "tiny-remote", "--quiet").returncode == 0
    entry = next(e for e in json.loads(run("list", "--json").stdout) if e["name"] == "tiny-remote")
    assert entry["source"] == "user"
    removed = run("remove", "tiny-remote")
    assert removed.returncode == 0 and not (store / "tiny-remote").exists()
    assert not list(store.iterdir())
