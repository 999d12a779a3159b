"""Export a transformers ``Idefics3ForConditionalGeneration`` (SmolVLM's family) to the community layout.

``vision_encoder.onnx``: ``pixel_values`` (B, N, 3, S, S) and ``pixel_attention_mask`` (B, N, S, S) ->
``image_features`` (real images, image_seq_len, d): the SigLIP-style tower, the pixel-shuffle
connector, with all-zero padding images dropped as transformers does.
"""

from __future__ import annotations

import types
from pathlib import Path

import torch

from radfound.export.families.common import (
    DecoderGraph,
    export_decoder,
    export_embed,
    export_graph,
    processor_dict,
    write_folder,
    write_json,
)


def _embeddings_forward(self, pixel_values, patch_attention_mask):
    """transformers' Idefics3VisionEmbeddings.forward with an exportable bucketize (int64 positions)."""
    batch_size = pixel_values.shape[0]
    embeddings = self.patch_embedding(pixel_values).flatten(2).transpose(1, 2)
    side = self.num_patches_per_side
    boundaries = torch.arange(1, side, dtype=torch.float32) / side
    mask = patch_attention_mask
    step_h = 1.0 / mask[:, :, 0].sum(dim=1).to(torch.float32)
    step_w = 1.0 / mask[:, 0, :].sum(dim=1).to(torch.float32)
    h_idx = torch.cumsum(torch.ones_like(mask[0, :, 0], dtype=torch.float32), 0) - 1
    w_idx = torch.cumsum(torch.ones_like(mask[0, 0, :], dtype=torch.float32), 0) - 1
    frac_h = torch.clamp(h_idx[None, :] * step_h[:, None], max=1.0 - 1e-6)
    frac_w = torch.clamp(w_idx[None, :] * step_w[:, None], max=1.0 - 1e-6)
    bucket_h = (frac_h[..., None] >= boundaries).sum(-1)  # == torch.bucketize(..., right=True)
    bucket_w = (frac_w[..., None] >= boundaries).sum(-1)
    pos_ids = (bucket_h[:, :, None] * side + bucket_w[:, None, :]).reshape(batch_size, -1)
    position_ids = torch.where(mask.reshape(batch_size, -1), pos_ids, torch.zeros_like(pos_ids))
    return embeddings + self.position_embedding(position_ids)


class _Idefics3Vision(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model.model
        self.patch = model.config.vision_config.patch_size
        embeddings = self.model.vision_model.embeddings
        embeddings.forward = types.MethodType(_embeddings_forward, embeddings)

    def forward(self, pixel_values, pixel_attention_mask):
        b, n, c, h, w = pixel_values.shape
        pixel_values = pixel_values.reshape(b * n, c, h, w)
        real = (pixel_values != 0.0).flatten(1).any(dim=1)
        pixel_values = pixel_values[real]
        mask = pixel_attention_mask.reshape(b * n, h, w)[real].bool()
        p = self.patch
        grid = mask.reshape(mask.shape[0], h // p, p, w // p, p)
        patch_mask = grid.any(dim=4).any(dim=2)
        hidden = self.model.vision_model(pixel_values=pixel_values, patch_attention_mask=patch_mask,
                                         return_dict=True).last_hidden_state
        return self.model.connector(hidden)


def image_seq_len(config) -> int:
    v = config.vision_config
    return int(((v.image_size // v.patch_size) ** 2) / (config.scale_factor**2))


def export_idefics3(model, tokenizer, outdir: str | Path, *, image_processor, name: str = "idefics3-model",
                    licence: str = "unknown", source: str = "exported with radfound.export.families") -> Path:
    """Write ``outdir`` with the three graphs, HF configs, ``tokenizer.json`` and ``manifest.json``."""
    model = model.eval().float()
    cfg = model.config
    text = cfg.get_text_config()
    size = cfg.vision_config.image_size

    def build(tmp: Path) -> None:
        onnx_dir = tmp / "onnx"
        pixels = torch.randn(1, 2, 3, size, size)
        mask = torch.ones(1, 2, size, size, dtype=torch.int64)
        export_graph(_Idefics3Vision(model), (pixels, mask), onnx_dir / "vision_encoder.onnx",
                     ["pixel_values", "pixel_attention_mask"], ["image_features"],
                     {"pixel_values": {0: "batch", 1: "num_images", 3: "height", 4: "width"},
                      "pixel_attention_mask": {0: "batch", 1: "num_images", 2: "height", 3: "width"},
                      "image_features": {0: "num_real_images"}})
        export_embed(model.model.text_model.embed_tokens, onnx_dir / "embed_tokens.onnx")
        graph = DecoderGraph(model.model.text_model, model.lm_head, text.num_hidden_layers)
        export_decoder(graph, text, onnx_dir / "decoder_model_merged.onnx")
        write_json(tmp / "config.json", cfg.to_dict())
        write_json(tmp / "generation_config.json", model.generation_config.to_dict())
        write_json(tmp / "preprocessor_config.json", {**processor_dict(image_processor), "image_seq_len": image_seq_len(cfg)})
        tokenizer.save(str(tmp / "tokenizer.json"))

    return write_folder(outdir, build, name=name, family="idefics3", licence=licence, source=source)
