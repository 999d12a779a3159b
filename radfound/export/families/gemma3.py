"""Export a transformers ``Gemma3ForConditionalGeneration`` (MedGemma's family) to the community layout.

``vision_encoder.onnx``: ``pixel_values`` (N, 3, S, S) -> ``image_features`` (N, mm_tokens_per_image, d),
the SigLIP tower plus the average-pool projector. ``embed_tokens.onnx`` includes Gemma's
sqrt(d) embedding scale, as in transformers, so image features are merged unscaled.
"""

from __future__ import annotations

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


class _Gemma3Vision(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model.model

    def forward(self, pixel_values):
        return self.model.get_image_features(pixel_values, return_dict=True).pooler_output


def export_gemma3(model, tokenizer, outdir: str | Path, *, image_processor, name: str = "gemma3-model",
                  licence: str = "unknown", source: str = "exported with radfound.export.families",
                  image_attention: str = "bidirectional") -> Path:
    """Write ``outdir`` with the three graphs, HF configs, ``tokenizer.json`` and ``manifest.json``.

    ``image_attention="bidirectional"`` (default, as MedGemma was trained) gives the decoder a
    ``token_type_ids`` input so an image's tokens see each other; ``"causal"`` leaves it out, like
    the published community decoders.
    """
    if image_attention not in ("bidirectional", "causal"):
        raise ValueError(f"image_attention must be 'bidirectional' or 'causal', not {image_attention!r}")
    model = model.eval().float()
    cfg = model.config
    text = cfg.get_text_config()
    size = cfg.vision_config.image_size

    def build(tmp: Path) -> None:
        onnx_dir = tmp / "onnx"
        export_graph(_Gemma3Vision(model), (torch.randn(1, 3, size, size),), onnx_dir / "vision_encoder.onnx",
                     ["pixel_values"], ["image_features"],
                     {"pixel_values": {0: "num_images"}, "image_features": {0: "num_images"}})
        export_embed(model.model.language_model.embed_tokens, onnx_dir / "embed_tokens.onnx")
        graph = DecoderGraph(model.model.language_model, model.lm_head, text.num_hidden_layers,
                             sliding_window=text.sliding_window, mask_by_layer_type=True,
                             softcap=text.final_logit_softcapping,
                             image_blocks=image_attention == "bidirectional")
        export_decoder(graph, text, onnx_dir / "decoder_model_merged.onnx")
        write_json(tmp / "config.json", cfg.to_dict())
        write_json(tmp / "generation_config.json", model.generation_config.to_dict())
        write_json(tmp / "preprocessor_config.json", processor_dict(image_processor))
        tokenizer.save(str(tmp / "tokenizer.json"))

    return write_folder(outdir, build, name=name, family="gemma3", licence=licence, source=source)
