"""A model zip whose entries escape the folder (absolute, '..', symlink) is refused and leaves nothing behind."""

from __future__ import annotations

import stat
import zipfile

import pytest

from radfound.errors import ModelError
from radfound.registry import import_model, list_models


def zip_with(model_folder, path, evil: zipfile.ZipInfo, payload=b"x"):
    with zipfile.ZipFile(path, "w") as zf:
        for p in sorted(model_folder.rglob("*")):
            zf.write(p, p.relative_to(model_folder).as_posix())
        zf.writestr(evil, payload)
    return path


def symlink_info(name):
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    ("evil", "message"),
    [
        (zipfile.ZipInfo("/tmp/radfound-evil.txt"), "absolute path"),
        (zipfile.ZipInfo("C:/evil.txt"), "absolute path"),
        (zipfile.ZipInfo("../evil.txt"), "escape the model folder"),
        (zipfile.ZipInfo("onnx/../../evil.txt"), "escape the model folder"),
        (zipfile.ZipInfo("..\\evil.txt"), "backslashes"),
        (symlink_info("onnx/link.onnx"), "symbolic link"),
    ],
)
def test_escaping_entry_refused(model_folder, user_store, tmp_path, evil, message):
    payload = b"/etc/passwd" if "link" in evil.filename else b"owned"
    archive = zip_with(model_folder, tmp_path / "evil.zip", evil, payload)
    with pytest.raises(ModelError, match=message) as err:
        import_model(archive)
    assert str(archive) in str(err.value) and repr(evil.filename) in str(err.value)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path.parent / "evil.txt").exists()
    assert list(user_store.iterdir()) == [] and list_models() == []


def test_not_a_zip_and_corrupt_zip(model_folder, user_store, tmp_path):
    bogus = tmp_path / "model.zip"
    bogus.write_bytes(b"PK\x03\x04 but not really a zip")
    with pytest.raises(ModelError, match="not a model folder or a .zip"):
        import_model(bogus)
    good = zip_with(model_folder, tmp_path / "good.zip", zipfile.ZipInfo("README.md"))
    data = bytearray(good.read_bytes())
    start = data.index(b"onnx/decoder_model_merged.onnx") + 60  # inside the graph's stored bytes
    data[start : start + 8] = b"\x00" * 8
    broken = tmp_path / "broken.zip"
    broken.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="cannot be extracted|sha256 does not match"):
        import_model(broken)
    assert list(user_store.iterdir()) == []
