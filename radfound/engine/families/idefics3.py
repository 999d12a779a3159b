"""Idefics3 / SmolVLM: preprocessing with image splitting, placeholders and the chat prompt.

As ``Idefics3ImageProcessor`` (PIL backend) does: the longest edge is resized to
``size.longest_edge``; with ``do_image_splitting`` the image is resized up to a multiple
of ``max_image_size`` and cut into rows x cols tiles followed by a global view resized to
one tile; each tile becomes ``image_seq_len`` tokens. The prompt text per image is the one
``Idefics3Processor`` writes (``<fake_token_around_image><row_r_col_c>`` + tokens per tile,
then ``<global-img>``).
"""

from __future__ import annotations

import math

import numpy as np

from radfound.engine.families.pixels import normalise, resize

MAX_IMAGE_SIZE = 4096


def _longest_edge_size(height: int, width: int, max_len: int) -> tuple[int, int]:
    aspect = width / height
    if width >= height:
        width, height = max_len, int(max_len / aspect)
        height += height % 2
    else:
        height, width = max_len, int(max_len * aspect)
        width += width % 2
    height, width = max(height, 1), max(width, 1)
    aspect = width / height  # then keep below the absolute maximum
    if width >= height and width > MAX_IMAGE_SIZE:
        width, height = MAX_IMAGE_SIZE, int(MAX_IMAGE_SIZE / aspect)
    elif height > width and height > MAX_IMAGE_SIZE:
        height, width = MAX_IMAGE_SIZE, int(MAX_IMAGE_SIZE * aspect)
    return max(height, 1), max(width, 1)


def _multiple_size(height: int, width: int, tile: int) -> tuple[int, int]:
    aspect = width / height
    if width >= height:
        width = math.ceil(width / tile) * tile
        height = math.ceil(int(width / aspect) / tile) * tile
    else:
        height = math.ceil(height / tile) * tile
        width = math.ceil(int(height * aspect) / tile) * tile
    return height, width


class Idefics3Family:
    name = "idefics3"

    def __init__(self, config: dict, preprocessor: dict, tokenizer):
        self.pre = preprocessor
        self.longest = int(preprocessor.get("size", {}).get("longest_edge", 4 * 364))
        self.tile = int(preprocessor.get("max_image_size", {}).get("longest_edge", 364))
        self.split = bool(preprocessor.get("do_image_splitting", True))
        self.do_resize = bool(preprocessor.get("do_resize", True))
        self.resample = int(preprocessor.get("resample", 1))
        vision = config.get("vision_config", {})
        patches = int(vision.get("image_size", 364)) // int(vision.get("patch_size", 14))
        self.seq_len = int(patches**2 / float(config.get("scale_factor", 3)) ** 2)
        self.image_token_id = int(config.get("image_token_id", 128257))
        token = tokenizer.id_to_token
        self.image_token = token(self.image_token_id) or "<image>"

    def tiles(self, image: np.ndarray) -> tuple[list[np.ndarray], int, int]:
        """(frames, rows, cols) of one (H, W, 3) uint8 image; rows = cols = 0 when not split."""
        if self.do_resize:
            image = resize(image, *_longest_edge_size(*image.shape[:2], self.longest), self.resample)
        if not self.split:
            return [resize(image, self.tile, self.tile, self.resample)], 0, 0
        image = resize(image, *_multiple_size(*image.shape[:2], self.tile), self.resample)
        height, width = image.shape[:2]
        t = self.tile
        if height <= t and width <= t:
            return [image], 0, 0
        rows, cols = (height - t) // t + 1, (width - t) // t + 1
        frames = [image[r * t : (r + 1) * t, c * t : (c + 1) * t] for r in range(rows) for c in range(cols)]
        frames.append(resize(image, t, t, self.resample))
        return frames, rows, cols

    def image_text(self, rows: int, cols: int) -> str:
        tokens = self.image_token * self.seq_len
        glob = f"<fake_token_around_image><global-img>{tokens}<fake_token_around_image>"
        if rows == 0 and cols == 0:
            return glob
        text = ""
        for r in range(rows):
            text += "".join(f"<fake_token_around_image><row_{r + 1}_col_{c + 1}>{tokens}" for c in range(cols))
            text += "\n"
        return text + "\n" + glob

    def vision_inputs(self, images: list[np.ndarray]) -> tuple[dict[str, np.ndarray], list[str]]:
        """Vision-graph inputs (one batch of all tiles, padded to the largest) and each image's text."""
        frames, texts = [], []
        for image in images:
            tiles, rows, cols = self.tiles(image)
            frames += [normalise(f, self.pre) for f in tiles]
            texts.append(self.image_text(rows, cols))
        h = max(f.shape[1] for f in frames)
        w = max(f.shape[2] for f in frames)
        pixels = np.zeros((1, len(frames), 3, h, w), dtype=np.float32)
        mask = np.zeros((1, len(frames), h, w), dtype=np.int64)
        for i, f in enumerate(frames):
            pixels[0, i, :, : f.shape[1], : f.shape[2]] = f
            mask[0, i, : f.shape[1], : f.shape[2]] = 1
        return {"pixel_values": pixels, "pixel_attention_mask": mask}, texts

    def prompt(self, image_texts: list[str], question: str) -> str:
        """The Idefics3/SmolVLM chat template for one user turn with the images first."""
        return f"<|im_start|>User:{''.join(image_texts)}{question}<end_of_utterance>\nAssistant:"
