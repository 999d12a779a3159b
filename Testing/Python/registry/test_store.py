"""Import, list, resolve, verify and remove models in the per-user store, all or nothing."""

from __future__ import annotations

import json
import shutil
import zipfile

import onnxruntime as ort
import pytest

from radfound.errors import IntegrityError, ModelError
from radfound.registry import import_model, list_models, model_choices, remove_model, resolve_model, verify_model
from radfound.registry.index import refresh_index


def visible(store_dir):
    return sorted(p.name for p in store_dir.iterdir() if not p.name.startswith(".")) if store_dir.exists() else []


def leftovers(store_dir):
    return sorted(p.name for p in store_dir.iterdir()) if store_dir.exists() else []


def test_import_folder_lists_resolves_and_loads(model_folder, user_store):
    entry = import_model(model_folder)
    assert (entry.name, entry.family, entry.source, entry.verified) == ("tiny-test", "radfound", "user", True)
    [listed] = list_models()
    assert listed.name == "tiny-test" and listed.status == "sizes ok" and listed.size == entry.size > 0
    assert listed.default is False
    folder = resolve_model("tiny-test")
    assert folder == user_store / "tiny-test"
    assert resolve_model(str(folder)) == folder
    sess = ort.InferenceSession(str(folder / "onnx" / "decoder_model_merged.onnx"), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].name == "x"
    assert verify_model("tiny-test").status == "verified"
    assert leftovers(user_store) == ["tiny-test"]  # no temporary folders left behind


def test_import_zip_with_top_folder(model_folder, user_store, tmp_path):
    archive = tmp_path / "tiny.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(model_folder.rglob("*")):
            zf.write(p, "tiny-test/" + p.relative_to(model_folder).as_posix())
    entry = import_model(archive, name="from-zip")
    assert entry.name == "from-zip" and (user_store / "from-zip" / "onnx" / "decoder_model_merged.onnx").is_file()
    assert verify_model("from-zip").verified is True


def test_tampered_folder_is_never_made_visible(model_folder, user_store):
    cfg = model_folder / "config.json"
    cfg.write_text(cfg.read_text().replace("radfound", "radfounD"))  # same size, other bytes
    with pytest.raises(IntegrityError, match=r"config\.json: sha256 does not match"):
        import_model(model_folder)
    assert leftovers(user_store) == []


def test_unlisted_graph_is_refused(model_folder, user_store):
    shutil.copy(model_folder / "onnx" / "decoder_model_merged.onnx", model_folder / "onnx" / "decoder_model_merged_q4.onnx")
    with pytest.raises(IntegrityError, match=r"decoder_model_merged_q4\.onnx: not listed in manifest\.json"):
        import_model(model_folder)
    assert leftovers(user_store) == []


def test_folder_without_manifest_needs_explicit_trust(model_folder, user_store):
    (model_folder / "manifest.json").unlink()
    with pytest.raises(ModelError, match="no manifest.json"):
        import_model(model_folder)
    entry = import_model(model_folder, create_manifest=True, licence="CC-BY-4.0")
    assert entry.name == "tiny-test" and entry.licence == "CC-BY-4.0" and entry.family == "radfound"
    assert not (model_folder / "manifest.json").exists()  # the source folder is left untouched


def test_tamper_after_import_is_caught_by_verify_and_list(model_folder, user_store):
    import_model(model_folder)
    graph = user_store / "tiny-test" / "onnx" / "decoder_model_merged.onnx"
    data = bytearray(graph.read_bytes())
    data[-1] ^= 0x01
    graph.write_bytes(bytes(data))
    entry = verify_model("tiny-test")
    assert entry.verified is False and "decoder_model_merged.onnx: sha256 does not match" in entry.status
    assert list_models(verify="full")[0].verified is False
    graph.write_bytes(bytes(data[:-10]))
    assert "size" in list_models(verify="sizes")[0].status


def test_duplicate_name_and_bad_name_refused(model_folder, user_store):
    import_model(model_folder)
    with pytest.raises(ModelError, match="already installed"):
        import_model(model_folder)
    with pytest.raises(ModelError, match="not a valid model name"):
        import_model(model_folder, name="../evil")
    assert leftovers(user_store) == ["tiny-test"]


def test_remove_user_model_but_not_shipped(model_folder, user_store):
    import_model(model_folder)
    remove_model("tiny-test")
    assert leftovers(user_store) == []
    with pytest.raises(ModelError, match="no model called 'tiny-test'"):
        resolve_model("tiny-test")
    from radfound.registry import store

    shutil.copytree(model_folder, store.SHIPPED_MODELS_DIR / "tiny-test")
    with pytest.raises(ModelError, match="cannot be removed"):
        remove_model("tiny-test")
    assert [(e.name, e.source) for e in list_models()] == [("tiny-test", "shipped")]


def test_shipped_manifest_must_agree_with_index(model_folder, user_store):
    from radfound.registry import store

    shipped = store.SHIPPED_MODELS_DIR / "tiny-test"
    shutil.copytree(model_folder, shipped)
    [entry] = refresh_index(store.INDEX_PATH, store.SHIPPED_MODELS_DIR, store.SHIPPED_MODELS_DIR.parent)
    assert entry["path"] == "models/tiny-test" and set(entry["files"]) == {
        "config.json",
        "tokenizer.json",
        "onnx/decoder_model_merged.onnx",
    }
    assert verify_model("tiny-test").verified is True
    # Someone edits a file AND rewrites its manifest: the shipped index still catches it.
    from radfound.registry.manifest import write_manifest

    (shipped / "config.json").write_text(json.dumps({"model_type": "radfound", "evil": True}))
    write_manifest(shipped, name="tiny-test", family="radfound")
    result = verify_model("tiny-test")
    assert result.verified is False and "config.json" in result.status and "models.json" in result.status


def test_default_model_is_marked(model_folder, user_store, monkeypatch):
    from radfound.registry import store

    shipped = store.SHIPPED_MODELS_DIR / "radfound-small"
    shutil.copytree(model_folder, shipped)
    monkeypatch.setattr(store, "default_model_dir", lambda: shipped)
    import_model(model_folder, name="other")
    assert {e.name: e.default for e in list_models()} == {"other": False, "radfound-small": True}
    assert resolve_model(None) == shipped
    (user_store / "other" / "config.json").write_text("{}")  # truncated: the picker shows the problem
    choices = model_choices()
    assert [name for _, name in choices] == ["radfound-small", "other"]
    assert choices[0][0].startswith("radfound-small (radfound, ") and choices[0][0].endswith("shipped, default)")
    assert "problem: " in choices[1][0] and "config.json: size" in choices[1][0]


def test_resolve_errors(user_store, tmp_path):
    with pytest.raises(ModelError, match="no model called 'nothing-here'"):
        resolve_model("nothing-here")
    with pytest.raises(ModelError, match="no such model folder"):
        resolve_model(str(tmp_path / "missing" / "dir"))


def test_files_the_manifest_does_not_list_are_left_out_of_an_import(model_folder, user_store, tmp_path):
    """A zip carrying a large stray file installs only what its manifest verifies, so the size is the real one."""
    archive = tmp_path / "stray.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(model_folder.rglob("*")):
            zf.write(p, p.relative_to(model_folder).as_posix())
        zf.writestr("padding.bin", b"\0" * 5_000_000)
    entry = import_model(archive, name="stray")
    assert not (user_store / "stray" / "padding.bin").exists()
    on_disk = sum(p.stat().st_size for p in (user_store / "stray").rglob("*") if p.is_file())
    assert entry.size <= on_disk < 5_000_000 and verify_model("stray").verified is True


def test_a_bad_file_in_an_archive_is_named_inside_the_archive(model_folder, user_store, tmp_path):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(model_folder.rglob("*")):
            zf.write(p, p.relative_to(model_folder).as_posix())
        zf.writestr("onnx/extra.onnx", b"not listed")
    with pytest.raises(IntegrityError) as err:
        import_model(archive, name="bad")
    assert str(err.value).startswith(f"{archive}/onnx/extra.onnx: not listed in manifest.json")
    assert leftovers(user_store) == []


def test_names_that_differ_only_in_case_are_one_name(model_folder, user_store):
    import_model(model_folder, name="chest-model")
    with pytest.raises(ModelError, match="a model called 'chest-model' is already installed"):
        import_model(model_folder, name="Chest-Model")


def _shipped_copy(model_folder):
    """``model_folder`` installed as a shipped model, with its entry in the (test) models.json."""
    from radfound.registry import store

    shipped = store.SHIPPED_MODELS_DIR / "tiny-test"
    shutil.copytree(model_folder, shipped)
    refresh_index(store.INDEX_PATH, store.SHIPPED_MODELS_DIR, store.SHIPPED_MODELS_DIR.parent)
    return shipped


def test_loading_refuses_a_coordinated_edit_of_a_shipped_model(model_folder, user_store, monkeypatch):
    """A shipped file changed together with a rewritten manifest passes verify_model_dir; models.json catches it,
    whether the model is loaded by name, by path or as the default."""
    from radfound.engine import load_model
    from radfound.registry import store
    from radfound.registry.manifest import write_manifest

    shipped = _shipped_copy(model_folder)
    assert store.verify_before_load(shipped)["name"] == "tiny-test"
    (shipped / "config.json").write_text(json.dumps({"model_type": "radfound", "evil": True}))
    write_manifest(shipped, name="tiny-test", family="radfound")
    monkeypatch.setattr(store, "default_model_dir", lambda: shipped)
    for how in ("tiny-test", str(shipped), None):
        with pytest.raises(IntegrityError, match="models.json") as err:
            load_model(how, device="cpu")
        assert err.value.path.endswith("config.json")


def test_a_shipped_manifest_edited_alone_is_refused(model_folder, user_store):
    """Same files, other metadata (e.g. the trained modalities or the licence): the manifest's hash differs."""
    from radfound.registry import store

    shipped = _shipped_copy(model_folder)
    manifest = json.loads((shipped / "manifest.json").read_text())
    manifest["licence"] = "public domain"
    (shipped / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match="models.json") as err:
        store.verify_before_load(shipped)
    assert err.value.path.endswith("manifest.json")
    assert verify_model("tiny-test").verified is False
    store.verify_before_load(shutil.copytree(shipped, user_store / "copy"))  # a user copy is not shipped


def test_the_real_shipped_model_agrees_with_its_index():
    from radfound.config import default_model_dir
    from radfound.registry.store import verify_before_load

    if not (default_model_dir() / "manifest.json").is_file():
        pytest.skip("shipped model not built")
    assert verify_before_load(default_model_dir())["name"] == default_model_dir().name


@pytest.mark.parametrize("manifest, problem", [
    ("[]", "JSON object"), ('{"files": {"config.json": {"size": "oops"}}}', "size"),
    ('{"name": 42, "files": {}}', "'name' must be a string"),
])
def test_a_malformed_user_model_is_listed_as_broken_without_hiding_the_others(model_folder, user_store, manifest,
                                                                              problem):
    import_model(model_folder, name="good")
    bad = shutil.copytree(model_folder, user_store / "bad")
    (bad / "manifest.json").write_text(manifest)
    (bad / "config.json").write_text("[1, 2]")  # a config that is not an object either
    listed = {e.name: e for e in list_models()}
    assert listed["good"].status == "sizes ok"
    assert listed["bad"].verified is False and problem in listed["bad"].status
    assert listed["bad"].family == "unknown"
    labels = dict((name, label) for label, name in model_choices())
    assert "problem: " in labels["bad"] and "problem" not in labels["good"]


def test_import_refuses_a_manifest_whose_name_is_not_text(model_folder, user_store):
    manifest = json.loads((model_folder / "manifest.json").read_text())
    (model_folder / "manifest.json").write_text(json.dumps({**manifest, "name": 42}))
    with pytest.raises(ModelError, match="'name' must be a string"):
        import_model(model_folder)
    assert leftovers(user_store) == []


def test_models_store_that_is_a_file_is_a_config_error(tmp_path, monkeypatch, model_folder):
    from radfound.errors import ConfigError

    not_a_folder = tmp_path / "models.txt"
    not_a_folder.write_text("x")
    monkeypatch.setenv("RADFOUND_MODELS", str(not_a_folder))
    for call in (list_models, lambda: import_model(model_folder)):
        with pytest.raises(ConfigError, match="RADFOUND_MODELS"):
            call()
