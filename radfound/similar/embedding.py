"""A study's embedding for similar-case search: the vision encoder's visual tokens, mean-pooled.

The K visual tokens are what the decoder reads about the whole study (every view, local features and the
context across views), so their mean is a summary that the model itself relies on; it is L2-normalised so
the index compares directions (cosine), not the token norms. Embeddings from different models (or
versions) live in different spaces and are never compared: the index records which model made them.
"""

from __future__ import annotations

import numpy as np


def pooled_embedding(image_features: np.ndarray) -> np.ndarray:
    """(K, d) visual tokens -> (d,) float32 unit vector."""
    feats = np.asarray(image_features, dtype=np.float64)
    if feats.ndim != 2 or not feats.size:
        raise ValueError(f"visual tokens must be a non-empty (K, d) array, got shape {feats.shape}")
    v = feats.mean(axis=0)
    norm = float(np.linalg.norm(v))
    return (v / norm if norm > 0 else v).astype(np.float32)


def thumbnail(encoded, side: int = 128) -> np.ndarray | None:
    """The first view as the model saw it, as a (side, side) uint8 image (None when the inputs are not kept)."""
    inputs = getattr(encoded, "inputs", None)
    if inputs is None or getattr(inputs, "pixel_values", None) is None:
        return None
    from PIL import Image

    px = np.asarray(inputs.pixel_values[0, 0], dtype=np.float32)
    lo, hi = float(px.min()), float(px.max())
    grey = np.zeros(px.shape, np.uint8) if hi <= lo else ((px - lo) / (hi - lo) * 255).round().astype(np.uint8)
    return np.asarray(Image.fromarray(grey).resize((side, side), Image.BILINEAR))
