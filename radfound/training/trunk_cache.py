"""The frozen first blocks of the EfficientNet stem, run once per image (and per augmented copy) before training.

radfound-base keeps EfficientNet-Lite0's blocks ``[0, trunk_blocks)`` at their ImageNet weights, so their
output for an image never changes: computing it once instead of at every step makes a vision step about ten
times cheaper on a CPU. Augmentation must then happen before the cache: each real image is cached as
``variants`` copies, the first unaugmented (used by grounding rows, whose boxes are fixed pixel positions) and
the others with one random augmentation each (radfound.training.augment); a step picks one copy at random.
Copies are float16 (half the memory; the trunk's output is post-ReLU6 activations, where float16 loses nothing
that matters to the blocks after it).
"""

from __future__ import annotations

import torch

from radfound.training.augment import augment_study


class TrunkCache:
    """study key -> list of (N, C, h, w) float16 trunk outputs, the first one unaugmented."""

    def __init__(self):
        self.variants: dict[str, list[torch.Tensor]] = {}

    def __contains__(self, key: str) -> bool:
        return key in self.variants

    def get(self, key: str, rng, augmented: bool = True) -> torch.Tensor:
        copies = self.variants[key]
        i = rng.randrange(len(copies)) if augmented and len(copies) > 1 else 0
        return copies[i].float()

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for copies in self.variants.values() for t in copies)


@torch.no_grad()
def build_trunk_cache(stem, pool, copies_of, augment: dict | None, gen: torch.Generator, log=print,
                      batch_images: int = 48) -> TrunkCache:
    """Run ``stem.trunk`` (an EfficientNetPatches in eval mode) over every study of ``pool``; ``copies_of(key)``
    says how many copies a study gets (1: the unaugmented one only)."""
    cache = TrunkCache()
    was_training = stem.training
    stem.eval()
    pending: list[tuple[str, torch.Tensor]] = []
    count = 0

    def flush():
        nonlocal pending
        if not pending:
            return
        out = stem.trunk(torch.cat([px for _, px in pending])).half()
        start = 0
        for key, px in pending:
            cache.variants.setdefault(key, []).append(out[start:start + px.shape[0]].clone())
            start += px.shape[0]
        pending = []

    keys = list(pool.inputs)
    for n, key in enumerate(keys):
        px = torch.from_numpy(pool.inputs[key].pixel_values)
        for c in range(copies_of(key)):
            pending.append((key, px if c == 0 or not augment else augment_study(px, augment, gen)))
            count += px.shape[0]
            if sum(p.shape[0] for _, p in pending) >= batch_images:
                flush()
        if (n + 1) % 500 == 0:
            log(f"trunk cache: {n + 1}/{len(keys)} studies")
    flush()
    stem.train(was_training)
    log(f"trunk cache: {count} images of {len(keys)} studies, {cache.nbytes() / 2**20:.0f} MiB")
    return cache
