"""A local index of the user's own studies for "where have I seen this before?" (``radfound similar``).

One folder per model (embeddings of different models are not comparable), under ``similar_index_dir()``:

- ``index.npz``: the embeddings (N, d) float32 and the cases as JSON text (key, kind, source, report, edited,
  labels, added), written to a temporary file and renamed, so a reader never sees half an index;
- ``thumbs/<n>.png``: each case's first view as the model saw it, for the Slicer panel.

A study is keyed by its StudyInstanceUID (else its file path): adding it again replaces it, so ``radfound
batch --index`` and the Report module's Save keep the index up to date incrementally; a saved report marks
the case as edited by a radiologist. Adds take a lock file, so two processes never lose each other's cases.

Search is exact cosine similarity of the unit embeddings: with faiss-cpu installed through an inner-product
flat index, else with numpy; both give the same ranking (tested). Removing the index's mean embedding first was
measured too and ranked SLAKE validation the same (docs/similar.md), while it makes distances depend on what
else is in the index, so it is not done. Nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from radfound.errors import ConfigError, ModelError

INDEX_FILE = "index.npz"


@dataclass
class Case:
    """One indexed study: what the panel and the CLI show of a match."""

    key: str
    kind: str
    source: str
    report: str = ""
    edited: bool = False  # the report is a radiologist's saved text, not the model's raw draft
    labels: dict = field(default_factory=dict)
    added: str = ""
    thumb: str | None = None  # relative to the index folder


@dataclass
class Match:
    case: Case
    distance: float  # 1 - cosine similarity (0: the same direction)
    thumbnail: Path | None = None


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "_" for c in name) or "model"


class CaseIndex:
    """The similar-case index of one model in ``folder``."""

    def __init__(self, folder: str | Path, model: str):
        self.folder = Path(folder)
        self.model = model
        self.cases: list[Case] = []
        self.embeddings = np.zeros((0, 0), np.float32)
        self._load()

    @classmethod
    def for_model(cls, model, root: Path | None = None) -> "CaseIndex":
        """The index of a loaded engine model (radfound.engine), in ``root`` (default: similar_index_dir())."""
        from radfound.config import similar_index_dir

        ident = f"{model.name} {model.version}".strip()
        return cls((Path(root) if root else similar_index_dir()) / _safe(ident.replace(" ", "-")), ident)

    @classmethod
    def read(cls, folder: str | Path) -> "CaseIndex":
        """An existing index, whichever model made it (for listing and inspection)."""
        path = Path(folder) / INDEX_FILE
        try:
            with np.load(path, allow_pickle=False) as data:
                model = json.loads(str(data["meta"]))["model"]
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"not a readable similar-case index ({exc})", path) from None
        return cls(folder, model)

    # -- reading and writing ----------------------------------------------------------------------------
    def _load(self) -> None:
        path = self.folder / INDEX_FILE
        if not path.is_file():
            self.cases, self.embeddings = [], np.zeros((0, 0), np.float32)
            return
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                emb = np.asarray(data["embeddings"], np.float32)
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"not a readable similar-case index ({exc}); remove the folder to start again", path) \
                from None
        if meta.get("model") != self.model:
            raise ModelError(f"this index holds embeddings of {meta.get('model')!r}, not {self.model!r}: they cannot "
                             "be compared", path)
        self.cases = [Case(**c) for c in meta["cases"]]
        self.embeddings = emb
        if len(self.cases) != emb.shape[0]:
            raise ConfigError(f"the index lists {len(self.cases)} cases but holds {emb.shape[0]} embeddings", path)

    def _save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = json.dumps({"model": self.model, "cases": [asdict(c) for c in self.cases]}, ensure_ascii=False)
        fd, tmp = tempfile.mkstemp(prefix=".index.", suffix=".npz", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, embeddings=self.embeddings, meta=np.array(meta))
            os.replace(tmp, self.folder / INDEX_FILE)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _locked(self):
        from radfound.registry.locks import StoreLock

        self.folder.mkdir(parents=True, exist_ok=True)
        return StoreLock(self.folder / ".lock", timeout=120.0)

    # -- changing it ----------------------------------------------------------------------------------
    def add(self, key: str, embedding: np.ndarray, *, kind: str, source: str, report: str = "",
            edited: bool = False, labels: dict | None = None, thumbnail: np.ndarray | None = None) -> Case:
        """Add (or replace) the study ``key``; returns its case."""
        emb = np.asarray(embedding, np.float32).reshape(-1)
        with self._locked():
            self._load()  # another process may have added cases since we read the index
            if self.embeddings.size and emb.shape[0] != self.embeddings.shape[1]:
                raise ModelError(f"embedding of size {emb.shape[0]} does not fit this index's "
                                 f"{self.embeddings.shape[1]}", self.folder)
            old = self._position(key)
            case = Case(key=key, kind=kind, source=source, report=report, edited=edited, labels=dict(labels or {}),
                        added=time.strftime("%Y-%m-%dT%H:%M:%S"))
            if old is not None and not report:  # re-indexing a study keeps the report saved for it
                case.report, case.edited = self.cases[old].report, self.cases[old].edited
            if thumbnail is not None:
                case.thumb = self._write_thumb(key, thumbnail)
            elif old is not None:
                case.thumb = self.cases[old].thumb
            if old is None:
                self.cases.append(case)
                rows = emb[None] if not self.embeddings.size else np.vstack([self.embeddings, emb[None]])
                self.embeddings = rows.astype(np.float32)
            else:
                self.cases[old] = case
                self.embeddings[old] = emb
            self._save()
        return case

    def set_report(self, key: str, report: str, *, edited: bool = True) -> None:
        """Record the report saved for an indexed study (the radiologist's text)."""
        with self._locked():
            self._load()
            i = self._position(key)
            if i is None:
                raise ConfigError(f"no study {key!r} in this similar-case index", self.folder)
            self.cases[i].report, self.cases[i].edited = report, edited
            self._save()

    def _write_thumb(self, key: str, pixels: np.ndarray) -> str:
        from hashlib import sha1

        from PIL import Image

        rel = f"thumbs/{sha1(key.encode()).hexdigest()[:16]}.png"
        (self.folder / "thumbs").mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".thumb.", suffix=".png", dir=self.folder / "thumbs")
        os.close(fd)
        Image.fromarray(np.asarray(pixels, np.uint8)).save(tmp, format="PNG")
        os.replace(tmp, self.folder / rel)
        return rel

    def _position(self, key: str) -> int | None:
        return next((i for i, c in enumerate(self.cases) if c.key == key), None)

    def __len__(self) -> int:
        return len(self.cases)

    def __contains__(self, key: str) -> bool:
        return self._position(key) is not None

    # -- searching ----------------------------------------------------------------------------------
    def search(self, embedding: np.ndarray, k: int = 5, *, exclude: str | None = None,
               engine: str = "auto") -> list[Match]:
        """The ``k`` nearest cases to ``embedding`` (closest first), leaving out the study ``exclude``."""
        if k < 1:
            raise ConfigError(f"k must be at least 1, not {k}")
        if not self.cases:
            return []
        order, sims = nearest(self.embeddings, np.asarray(embedding, np.float32).reshape(-1),
                              k + (exclude is not None), engine=engine)
        out = []
        for i, s in zip(order, sims):
            case = self.cases[i]
            if case.key == exclude:
                continue
            out.append(Match(case, round(float(1.0 - s), 6), self.folder / case.thumb if case.thumb else None))
        return out[:k]


def nearest(embeddings: np.ndarray, query: np.ndarray, k: int, *, engine: str = "auto"):
    """(indices, cosine similarities) of the ``k`` rows of ``embeddings`` (unit vectors) nearest ``query``; exact.
    ``engine``: "faiss", "numpy" or "auto" (faiss when installed)."""
    if query.shape[0] != embeddings.shape[1]:
        raise ModelError(f"a query embedding of size {query.shape[0]} does not fit this index's {embeddings.shape[1]} "
                         "(made by another model?)")
    base = np.ascontiguousarray(embeddings, np.float32)
    q = np.ascontiguousarray(query[None] / max(float(np.linalg.norm(query)), 1e-12), np.float32)
    k = min(k, base.shape[0])
    if engine in ("auto", "faiss"):
        try:
            import faiss
        except ImportError:
            if engine == "faiss":
                raise ConfigError("faiss is not installed (pip install faiss-cpu, or radfound[similar])") from None
        else:
            flat = faiss.IndexFlatIP(base.shape[1])
            flat.add(base)
            sims, idx = flat.search(q, k)
            return [int(i) for i in idx[0]], [float(s) for s in sims[0]]
    elif engine != "numpy":
        raise ConfigError(f"unknown search engine {engine!r}; choose auto, faiss or numpy")
    sims = base @ q[0]
    order = np.argsort(-sims, kind="stable")[:k]
    return [int(i) for i in order], [float(sims[i]) for i in order]
