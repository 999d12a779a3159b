"""The similar-case index on real studies with the shipped radfound-small: add, search, replace, persist, refuse."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys

import numpy as np
import pytest

from radfound.errors import ModelError
from radfound.similar.index import CaseIndex, nearest

CXRS = ("xmlab121", "xmlab139", "xmlab164")  # SLAKE validation chest X-rays
OTHERS = ("xmlab1", "xmlab5")  # SLAKE validation CT / MRI of the head and abdomen


@pytest.fixture(scope="module")
def small():
    from radfound.engine import load_model

    return load_model(None, device="cpu")


def slake_study(shared_data, name):
    from radfound.study.reader import read_study

    return read_study(shared_data / "slake" / "imgs" / name / "source.jpg")


def test_faiss_and_numpy_give_the_same_exact_ranking():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(7)
    emb = rng.standard_normal((300, 64)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    for q in rng.standard_normal((5, 64)).astype(np.float32):
        a, sa = nearest(emb, q, 10, engine="faiss")
        b, sb = nearest(emb, q, 10, engine="numpy")
        assert a == b and np.allclose(sa, sb, atol=1e-5)
        assert sa == sorted(sa, reverse=True)


def test_chest_xrays_find_chest_xrays_first_and_the_index_persists(small, shared_data, tmp_path):
    from radfound.similar.cases import find_similar, index_study

    index = CaseIndex.for_model(small, tmp_path)
    for name in CXRS[:2] + OTHERS:
        index_study(small, slake_study(shared_data, name), index=index, report=f"report of {name}", edited=True)
    query = slake_study(shared_data, CXRS[2])
    matches = find_similar(small, query, 4, root=tmp_path)  # a fresh read of the index from disk
    assert {m.case.source.split("/")[-2] for m in matches[:2]} == set(CXRS[:2])  # the other CXRs before CT/MRI
    assert [m.distance for m in matches] == sorted(m.distance for m in matches)
    assert matches[0].case.report.startswith("report of xmlab") and matches[0].case.edited
    assert matches[0].thumbnail is not None and matches[0].thumbnail.is_file()
    from PIL import Image

    assert Image.open(matches[0].thumbnail).size == (128, 128)


def test_a_study_added_again_replaces_itself_and_keeps_its_saved_report(small, shared_data, tmp_path):
    from radfound.similar.cases import find_similar, index_study

    index = CaseIndex.for_model(small, tmp_path)
    study = slake_study(shared_data, CXRS[0])
    index_study(small, study, index=index, report="Edited by Dr A.", edited=True)
    index_study(small, study, index=index)  # a batch re-run: same study, no report
    index_study(small, slake_study(shared_data, CXRS[1]), index=index)
    assert len(CaseIndex.for_model(small, tmp_path)) == 2
    assert index.cases[0].report == "Edited by Dr A." and index.cases[0].edited
    assert all(m.case.key != index.cases[0].key for m in find_similar(small, study, 5, index=index))  # never itself
    index.set_report(index.cases[1].key, "Signed text.")
    assert CaseIndex.for_model(small, tmp_path).cases[1].report == "Signed text."


def test_an_index_of_another_model_is_refused_with_both_named(tmp_path):
    CaseIndex(tmp_path / "idx", "radfound-small 0.4.0").add("a", np.ones(8, np.float32), kind="image", source="a.png")
    with pytest.raises(ModelError, match="radfound-small 0.4.0.*radfound-base 0.2.0"):
        CaseIndex(tmp_path / "idx", "radfound-base 0.2.0")


def test_a_damaged_index_file_is_one_clear_error(tmp_path):
    from radfound.errors import ConfigError

    (tmp_path / "idx").mkdir()
    (tmp_path / "idx" / "index.npz").write_bytes(b"not an index")
    with pytest.raises(ConfigError, match="index.npz.*not a readable similar-case index"):
        CaseIndex(tmp_path / "idx", "radfound-small 0.4.0")


def _add_many(folder, start):
    index = CaseIndex(folder, "m 1")
    for i in range(start, start + 15):
        index.add(f"study-{i}", np.eye(40, dtype=np.float32)[i], kind="image", source=f"{i}.png")


def test_two_processes_adding_at_once_lose_no_case(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_add_many, args=(tmp_path / "idx", s)) for s in (0, 20)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    index = CaseIndex(tmp_path / "idx", "m 1")
    assert sorted(c.key for c in index.cases) == sorted(f"study-{i}" for i in [*range(15), *range(20, 35)])
    for case, row in zip(index.cases, index.embeddings):  # each embedding stayed with its case
        assert int(np.argmax(row)) == int(case.key.split("-")[1])


def test_cli_adds_then_finds_and_refuses_bad_arguments_in_one_line(shared_data, tmp_path):
    env_args = ["--index", str(tmp_path)]
    run = lambda *a: subprocess.run([sys.executable, "-m", "radfound.cli.main", "similar", *a, *env_args],  # noqa: E731
                                    capture_output=True, text=True)
    img = lambda n: str(shared_data / "slake" / "imgs" / n / "source.jpg")  # noqa: E731
    report = tmp_path / "r.txt"
    report.write_text("FINDINGS: Cardiomegaly.\nIMPRESSION: Enlarged heart.", encoding="utf-8")
    first = run(img(CXRS[0]), "--add", "--report", str(report))
    assert first.returncode == 0 and "no similar cases" in first.stdout and "added to the index (1 studies)" in first.stdout
    assert run(img(OTHERS[0]), "--add").returncode == 0
    found = run(img(CXRS[1]), "--json", "-k", "2")
    out = json.loads(found.stdout)
    assert out["cases_in_index"] == 2 and out["added"] is None
    assert out["matches"][0]["source"] == img(CXRS[0]) and out["matches"][0]["edited"]
    assert out["matches"][0]["report"].startswith("FINDINGS: Cardiomegaly")
    text = run(img(CXRS[1]))
    assert "radiologist's report: FINDINGS: Cardiomegaly." in text.stdout
    for bad, says in (((img(CXRS[1]), "-k", "0"), "-k must be at least 1"),
                      ((img(CXRS[1]), "--report", str(report)), "--report needs --add"),
                      ((str(tmp_path / "nothing.png"),), "nothing.png")):
        r = run(*bad)
        assert r.returncode != 0 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
