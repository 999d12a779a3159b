"""Study -> model inputs: deterministic, per kind, every parameter in ``PreprocessConfig``.

``preprocess(study, config)`` returns ``ModelInputs``: pixel_values (N, 1, S, S)
float32 normalised with the config's mean/std, view_ids and positions (N,) int64,
the kind, the view codes, and per-image ``transforms`` mapping model-input pixel
coordinates back to the original view (``to_original(x, y, index)``) and forth.

- cxr / image (2D): one image per view, in the Study's view order, positions 0..N-1.
- mammo: one image per present view in L-CC, L-MLO, R-CC, R-MLO order (missing views
  are simply absent: the view ids tell the model which are present), chest wall left.
- ct (or any volume): ``ct_slabs`` axial images, view AXIAL, positions = slab index.
"""

from __future__ import annotations

import numpy as np

from radfound.errors import UnsupportedInputError
from radfound.preprocess.config import DEFAULT_CT_WINDOWS, PreprocessConfig
from radfound.preprocess.imaging import normalise
from radfound.preprocess.inputs import VIEW_IDS, ModelInputs
from radfound.preprocess.transforms import ImageTransform, Transforms
from radfound.preprocess.views import prepare_view
from radfound.preprocess.volume import prepare_volume
from radfound.study.model import Study

__all__ = [
    "DEFAULT_CT_WINDOWS", "ImageTransform", "ModelInputs", "PreprocessConfig", "Transforms", "VIEW_IDS",
    "preprocess",
]


def preprocess(study: Study, config: PreprocessConfig | None = None) -> ModelInputs:
    """Turn a Study into model inputs (see the module docstring for the per-kind rules)."""
    cfg = config or PreprocessConfig()
    if study.volume is not None:
        images, transforms = prepare_volume(study.volume, cfg, study.kind)
        codes = ["AXIAL"] * len(images)
    elif study.views:
        images, transforms, codes = [], [], []
        for view in study.views:
            image, transform = prepare_view(view, cfg, study.kind)
            images.append(image)
            transforms.append(transform)
            codes.append(view.view if view.view in VIEW_IDS else "UNKNOWN")
    else:
        raise UnsupportedInputError("the study has neither views nor a volume: nothing to preprocess")
    pixel_values = normalise(np.stack(images)[:, None], cfg)
    return ModelInputs(
        pixel_values=pixel_values,
        view_ids=np.array([VIEW_IDS[c] for c in codes], dtype=np.int64),
        positions=np.arange(len(images), dtype=np.int64),
        kind=study.kind,
        view_codes=codes,
        transforms=Transforms(transforms),
    )
