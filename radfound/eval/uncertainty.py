"""How sure a measured figure is: 95% intervals by resampling whole images (or phantom studies).

Questions about one image are not independent (VQA-RAD asks the same thing about an image in
several phrasings, and a model that misreads the image gets them all wrong), so the bootstrap
draws images with replacement and keeps all of each image's questions (a cluster bootstrap).
On VQA-RAD's 47 held-out images the interval for closed accuracy is 1.2-1.4 times as wide as
one from resampling single questions.
Seeded, so the same predictions always give the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RESAMPLES = 2000
SEED = 0


def _cluster_sums(values: Sequence[float], groups: Sequence[object] | None) -> tuple[np.ndarray, np.ndarray]:
    if groups is None:
        ids = np.arange(len(values))
    else:  # clusters numbered in sorted order, so the interval does not depend on the rows' order
        ids = np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)[1].reshape(-1)
    sums = np.bincount(ids, weights=np.asarray(values, dtype=np.float64))
    counts = np.bincount(ids).astype(np.float64)
    return sums, counts


def bootstrap_ci(values: Sequence[float], groups: Sequence[object] | None = None, *, level: float = 0.95,
                 resamples: int = RESAMPLES, seed: int = SEED) -> list[float] | None:
    """[low, high] percentile interval of the mean of ``values``, resampling ``groups`` (default: each value).

    None for fewer than two groups, where resampling says nothing.
    """
    sums, counts = _cluster_sums(values, groups)
    return ratio_ci(sums, counts, level=level, resamples=resamples, seed=seed)


def ratio_ci(numerators: Sequence[float], denominators: Sequence[float], *, empty: float = 1.0,
             level: float = 0.95, resamples: int = RESAMPLES, seed: int = SEED) -> list[float] | None:
    """Interval of sum(numerators) / sum(denominators), resampling the units (one per entry) with replacement.

    A mean over images is one such ratio (correct answers / questions per image), and so is a
    micro-averaged F1 over studies (2 TP / (2 TP + FP + FN) per study). A resample whose denominator
    is 0 (nothing to find and nothing claimed) counts as ``empty``. None for fewer than two units.
    """
    num, den = np.asarray(numerators, dtype=np.float64), np.asarray(denominators, dtype=np.float64)
    if len(num) < 2:
        return None
    draws = np.random.default_rng(seed).integers(0, len(num), size=(resamples, len(num)))
    top, bottom = num[draws].sum(1), den[draws].sum(1)
    ratios = np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), empty)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return [round(float(low), 4), round(float(high), 4)]


def paired_difference(a: Sequence[float], b: Sequence[float], groups: Sequence[object] | None = None, *,
                      level: float = 0.95) -> dict:
    """Mean of ``a`` minus mean of ``b`` over the same questions, with its interval: ``{"diff", "ci95"}``.

    Pairing (one resample for both) removes what the two share, so the interval is the one to read
    when asking whether a model beats a baseline on the same questions.
    """
    if len(a) != len(b):
        raise ValueError(f"paired values differ in length ({len(a)} and {len(b)})")
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    mean = round(float(diff.mean()), 4) if len(diff) else None
    return {"diff": mean, "ci95": bootstrap_ci(diff, groups, level=level) if len(diff) else None}
