"""Similar-case retrieval on SLAKE: do a study's nearest neighbours share its label? (``radfound eval retrieval``)

Every image of a SLAKE split (English labels) is embedded once (radfound.similar.embedding) and queried against
all the others of the same split, as a user's index of their own studies would be (leave-one-out). For each
label kind, recall@k is the share of queries with a label whose ``k`` nearest neighbours (among the images that
have a label of that kind) include at least one with the same label:

- ``region``: SLAKE's ``location`` (lung, abdomen, brain, neck, pelvic cavity...): same organ region;
- ``modality``: CT, MRI, X-ray;
- ``disease``: the answer to "What diseases are included in the picture?", split into diseases (canonical
  names where radfound.eval.disease_terms knows them): same when the two images share one.

Beside each: ``chance``, the expected recall@k of a random ranking (hypergeometric, per query), and a 95%
interval resampling the queries. ``search`` is what ``radfound similar`` does (cosine of the unit embeddings);
``centred`` removes the split's mean embedding first, the usual alternative, measured beside it.
"""

from __future__ import annotations

from collections import defaultdict
from math import comb

import numpy as np

from radfound.eval.disease_terms import canonical
from radfound.eval.normalize import normalize_answer
from radfound.eval.uncertainty import bootstrap_ci
from radfound.eval.vqa_file import VQAItem

DISEASE_QUESTION = "what diseases are included in the picture"
KINDS = ("region", "modality", "disease")


def image_labels(items: list[VQAItem]) -> dict:
    """image path -> {"region": {..}, "modality": {..}, "disease": {..}} (sets; a kind is absent when unknown)."""
    out: dict = defaultdict(dict)
    for it in items:
        if it.dataset != "slake" or it.lang != "en":
            continue
        lab = out[it.image]
        if it.meta.get("location"):
            lab["region"] = {str(it.meta["location"]).strip().lower()}
        if it.meta.get("modality"):
            lab["modality"] = {str(it.meta["modality"]).strip().lower()}
        if normalize_answer(it.question).startswith(normalize_answer(DISEASE_QUESTION)):
            names = {canonical(d.strip()) or normalize_answer(d) for d in it.answer.split(",") if d.strip()}
            if names:
                lab["disease"] = names
    return dict(out)


def recall_at_k(embeddings: np.ndarray, labels: list[set], k: int, centre: bool) -> dict:
    """recall@k, chance and interval over the rows whose label set is not empty (module docstring)."""
    rows = [i for i, lab in enumerate(labels) if lab]
    if len(rows) < 2:
        return {"n": len(rows), "recall": None, "chance": None, "ci95": None}
    x = np.asarray(embeddings, np.float64)[rows]
    if centre:
        x = x - x.mean(axis=0)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    labs = [labels[i] for i in rows]
    n = len(rows)
    kk = min(k, n - 1)
    hits, chance = [], []
    for q in range(n):
        top = np.argsort(-sims[q], kind="stable")[:kk]
        hits.append(float(any(labs[j] & labs[q] for j in top)))
        m = sum(1 for j in range(n) if j != q and labs[j] & labs[q])
        chance.append(1.0 - comb(n - 1 - m, kk) / comb(n - 1, kk))
    return {"n": n, "recall": round(float(np.mean(hits)), 4), "chance": round(float(np.mean(chance)), 4),
            "ci95": bootstrap_ci(hits)}


def evaluate_retrieval(items: list[VQAItem], embed, k: int = 5, progress=None) -> dict:
    """``embed(image_path) -> (d,) embedding``; returns recall@k per label kind, as searched and centred."""
    labels = image_labels(items)
    images = sorted(labels)
    vectors = []
    for i, image in enumerate(images, 1):
        vectors.append(embed(image))
        if progress:
            progress(i, len(images))
    emb = np.stack(vectors) if vectors else np.zeros((0, 1))
    out = {"images": len(images), "k": k}
    for kind in KINDS:
        labs = [labels[im].get(kind, set()) for im in images]
        out[kind] = {"search": recall_at_k(emb, labs, k, centre=False), "centred": recall_at_k(emb, labs, k, True)}
    return out
