"""Gemma 3 (MedGemma's family): preprocessing, image placeholders and the chat prompt.

Each image is resized to the processor's square size (896 for MedGemma, bilinear),
scaled to [-1, 1] and encoded into ``mm_tokens_per_image`` (256) soft tokens. In the
prompt an image is ``\\n\\n<start_of_image>`` + 256 x ``<image_soft_token>`` +
``<end_of_image>\\n\\n``, exactly as ``Gemma3Processor`` expands it; the engine then
replaces the soft-token embeddings with the image features.
"""

from __future__ import annotations

import numpy as np

from radfound.engine.families.pixels import normalise, resize


class Gemma3Family:
    name = "gemma3"

    def __init__(self, config: dict, preprocessor: dict, tokenizer):
        self.pre = preprocessor
        size = preprocessor.get("size", {})
        self.height, self.width = int(size.get("height", 896)), int(size.get("width", 896))
        self.resample = int(preprocessor.get("resample", 2))
        self.tokens_per_image = int(config.get("mm_tokens_per_image", 256))
        self.image_token_id = int(config.get("image_token_index", config.get("image_token_id", 262144)))
        token = tokenizer.id_to_token
        self.boi = token(int(config.get("boi_token_index", 255999))) or "<start_of_image>"
        self.eoi = token(int(config.get("eoi_token_index", 256000))) or "<end_of_image>"
        self.image_token = token(self.image_token_id) or "<image_soft_token>"
        bos = config.get("text_config", {}).get("bos_token_id", config.get("bos_token_id", 2))
        self.bos = token(int(bos)) or "<bos>"

    def vision_inputs(self, images: list[np.ndarray]) -> tuple[dict[str, np.ndarray], list[str]]:
        """Vision-graph inputs for (H, W, 3) uint8 images, and each image's placeholder text."""
        pixels = np.stack([normalise(resize(im, self.height, self.width, self.resample), self.pre) for im in images])
        text = f"\n\n{self.boi}{self.image_token * self.tokens_per_image}{self.eoi}\n\n"
        return {"pixel_values": pixels}, [text] * len(images)

    def prompt(self, image_texts: list[str], question: str) -> str:
        """Gemma's chat template for one user turn with the images first."""
        return f"{self.bos}<start_of_turn>user\n{''.join(image_texts)}{question}<end_of_turn>\n<start_of_turn>model\n"
