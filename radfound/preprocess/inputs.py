"""ModelInputs: what the vision encoder consumes, and how to map its coordinates back."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from radfound.preprocess.transforms import Transforms

#: View codes -> the ids the model's view embedding was trained with. Never renumber.
VIEW_IDS: dict[str, int] = {
    "UNKNOWN": 0, "PA": 1, "AP": 2, "LAT": 3, "L-CC": 4, "L-MLO": 5, "R-CC": 6, "R-MLO": 7, "AXIAL": 8,
}


@dataclass
class ModelInputs:
    """pixel_values (N, 1, S, S) float32 normalised; view_ids and positions (N,) int64."""

    pixel_values: np.ndarray
    view_ids: np.ndarray
    positions: np.ndarray
    kind: str
    view_codes: list[str]
    transforms: Transforms = field(default_factory=Transforms)

    def __len__(self) -> int:
        return int(self.pixel_values.shape[0])
