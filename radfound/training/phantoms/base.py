"""What a phantom generator returns: the Study and its ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from radfound.study.model import Study

SYNTHETIC_NOTE = "RadFound procedural phantom: synthetic image, not patient data"


@dataclass(frozen=True)
class PhantomFinding:
    """One known finding: type (``mass``, ``calcifications``, ``thyroid nodule``), side and sub-location."""

    finding: str
    side: str  # "left" / "right"
    where: str  # quadrant ("upper outer") or pole ("lower pole")
    size_mm: float
    # (view_index, x0, y0, x1, y1) in original pixels of that view (or axial slice index for CT)
    boxes: tuple[tuple[int, float, float, float, float], ...] = ()

    @property
    def location(self) -> str:
        organ = "breast" if self.finding in ("mass", "calcifications") else "thyroid lobe"
        return f"{self.side} {organ} {self.where}"

    def as_dict(self) -> dict:
        return {"finding": self.finding, "location": self.location, "present": True, "size_mm": self.size_mm}


@dataclass
class Phantom:
    study: Study
    findings: list[PhantomFinding]
    findings_text: str
    impression: str
    seed: int
    extra: dict = field(default_factory=dict)

    @property
    def report(self) -> str:
        return f"FINDINGS: {self.findings_text}\nIMPRESSION: {self.impression}"


def smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma_px: float) -> np.ndarray:
    """Gaussian-filtered white noise (unit std) via the FFT: a cheap tissue texture without scipy."""
    noise = rng.standard_normal(shape)
    freqs = np.meshgrid(*[np.fft.fftfreq(n) for n in shape], indexing="ij")
    kernel = np.exp(-2 * (np.pi * sigma_px) ** 2 * sum(f**2 for f in freqs))
    out = np.real(np.fft.ifftn(np.fft.fftn(noise) * kernel))
    return (out / (out.std() + 1e-8)).astype(np.float32)
