"""PreprocessConfig: every preprocessing parameter in one place.

The model folder's ``preprocessor_config.json`` overrides these defaults
(``PreprocessConfig.from_dict``); unknown keys (e.g. a community model's own
fields) are ignored, known keys with bad values raise ConfigError. Hugging Face
style ``image_mean`` / ``image_std`` lists and ``size`` are accepted as aliases.
"""

from __future__ import annotations

import math

from dataclasses import asdict, dataclass, field, fields

from radfound.errors import ConfigError

#: Named CT windows (centre, width) in HU. soft_tissue is the standard neck/body window.
#: thyroid: 60/300 spans -90..210 HU, wide enough for enhanced thyroid (~100-200 HU)
#: against muscle (~50) and fat (~-100) without saturating, narrower than soft tissue
#: so the gland's contrast with neighbours is larger.
DEFAULT_CT_WINDOWS: dict[str, tuple[float, float]] = {
    "soft_tissue": (40.0, 400.0),
    "thyroid": (60.0, 300.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
}


@dataclass
class PreprocessConfig:
    """Deterministic Study -> model-input parameters (see docs/study.md, "Preprocessing")."""

    image_size: int = 224  # S: every model-input image is S x S
    mean: float = 0.5  # normalisation after scaling to [0, 1]: (x - mean) / std
    std: float = 0.5
    percentiles: tuple[float, float] = (0.5, 99.5)  # robust range when no window is known
    use_file_window: bool = True  # use the DICOM VOI window of 2D views when present
    resample: str = "bilinear"  # Pillow filter: nearest | bilinear | bicubic | lanczos
    cxr_align: str = "center"  # where a resized 2D image sits in the square: center | left
    mammo_chest_wall: str = "left"  # mammogram views are flipped so the chest wall is on this side
    ct_window: str = "soft_tissue"  # name in ct_windows
    ct_windows: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_CT_WINDOWS))
    ct_slabs: int = 16  # fixed number of axial images per CT
    ct_slab_mode: str = "mean"  # mean (average of the slab) | center (its middle slice)
    ct_reorient: bool = True  # turn any volume into axial LPS order (i: R->L, j: A->P, k: I->S) first

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        def bad(msg: str) -> ConfigError:
            return ConfigError(f"preprocessor config: {msg}")

        if not isinstance(self.image_size, int) or not 8 <= self.image_size <= 4096:
            raise bad(f"image_size must be an integer 8..4096, got {self.image_size!r}")
        if not math.isfinite(self.mean):  # JSON's NaN / Infinity: every pixel would become NaN
            raise bad(f"mean must be a finite number, got {self.mean!r}")
        if not math.isfinite(self.std) or self.std <= 0:
            raise bad(f"std must be a finite number > 0, got {self.std!r}")
        lo, hi = self.percentiles
        if not 0 <= lo < hi <= 100:
            raise bad(f"percentiles must satisfy 0 <= low < high <= 100, got {self.percentiles!r}")
        if self.resample not in ("nearest", "bilinear", "bicubic", "lanczos"):
            raise bad(f"unknown resample filter {self.resample!r}")
        if self.cxr_align not in ("center", "left"):
            raise bad(f"cxr_align must be center or left, got {self.cxr_align!r}")
        if self.mammo_chest_wall not in ("left", "right"):
            raise bad(f"mammo_chest_wall must be left or right, got {self.mammo_chest_wall!r}")
        if self.ct_window not in self.ct_windows:
            raise bad(f"ct_window {self.ct_window!r} is not one of {sorted(self.ct_windows)}")
        for name, (center, width) in self.ct_windows.items():
            if not (math.isfinite(center) and math.isfinite(width)) or width <= 0:
                raise bad(f"ct window {name!r} must have a finite center and a width > 0, got {center}/{width}")
        if not isinstance(self.ct_slabs, int) or not 1 <= self.ct_slabs <= 512:
            raise bad(f"ct_slabs must be an integer 1..512, got {self.ct_slabs!r}")
        if self.ct_slab_mode not in ("mean", "center"):
            raise bad(f"ct_slab_mode must be mean or center, got {self.ct_slab_mode!r}")

    @property
    def window(self) -> tuple[float, float]:
        return self.ct_windows[self.ct_window]

    def to_dict(self) -> dict:
        """JSON-ready (lists, not tuples) for preprocessor_config.json."""
        d = asdict(self)
        d["percentiles"] = list(self.percentiles)
        d["ct_windows"] = {k: list(v) for k, v in self.ct_windows.items()}
        return d

    @classmethod
    def from_dict(cls, data: dict | None) -> "PreprocessConfig":
        """Defaults overridden by ``data`` (a preprocessor_config.json); unknown keys ignored."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        size = data.get("size")
        if "image_size" not in kwargs and isinstance(size, dict):
            side = size.get("height") or size.get("shortest_edge") or size.get("longest_edge")
            if side:
                kwargs["image_size"] = side
        for alias, name in (("image_mean", "mean"), ("image_std", "std")):
            if name not in kwargs and alias in data:
                value = data[alias]
                kwargs[name] = float(value[0] if isinstance(value, (list, tuple)) else value)
        try:
            if "percentiles" in kwargs:
                kwargs["percentiles"] = tuple(float(v) for v in kwargs["percentiles"])
            if "ct_windows" in kwargs:
                windows = dict(DEFAULT_CT_WINDOWS)
                windows.update({str(k): (float(v[0]), float(v[1])) for k, v in kwargs["ct_windows"].items()})
                kwargs["ct_windows"] = windows
            for name in ("image_size", "ct_slabs"):
                if name in kwargs and float(kwargs[name]) == int(kwargs[name]):
                    kwargs[name] = int(kwargs[name])
            for name in ("mean", "std"):
                if name in kwargs:
                    kwargs[name] = float(kwargs[name])
        except (TypeError, ValueError, IndexError, AttributeError) as exc:
            raise ConfigError(f"preprocessor config: invalid value ({exc})") from None
        return cls(**kwargs)
