"""The RadFound vision-language model in PyTorch (training, export and the parity reference only)."""

from __future__ import annotations

import torch
from torch import nn

from radfound.modeling.configs import RadFoundConfig
from radfound.modeling.decoder import Decoder
from radfound.modeling.vision import ConvStem, StudyEncoder


class RadFoundModel(nn.Module):
    """Study encoder + token embeddings + causal decoder; the three parts export to three ONNX graphs."""

    def __init__(self, config: RadFoundConfig, image_token_id: int = 4):
        super().__init__()
        self.config = config
        self.image_token_id = image_token_id
        self.vision = StudyEncoder(config.vision, config.text.hidden_size)
        self.embed_tokens = nn.Embedding(config.text.vocab_size, config.text.hidden_size)
        self.decoder = Decoder(config.text)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        std = self.config.initializer_range
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.Embedding)):
                nn.init.normal_(m.weight, std=std)
                if getattr(m, "bias", None) is not None:
                    nn.init.zeros_(m.bias)
        nn.init.normal_(self.vision.pos_embed, std=std)
        if isinstance(self.vision.patch_embed, ConvStem):
            self.vision.patch_embed.reset_parameters()  # the conv stem's own init
        nn.init.normal_(self.vision.queries, std=std)

    def encode(self, pixel_values, view_ids, positions) -> torch.Tensor:
        return self.vision(pixel_values, view_ids, positions)

    def splice(self, input_ids: torch.Tensor, image_features: torch.Tensor) -> torch.Tensor:
        """Token embeddings with the ``<image>`` placeholders replaced, in order, by the visual tokens."""
        embeds = self.embed_tokens(input_ids)
        is_image = input_ids == self.image_token_id
        if int(is_image.sum()) == 0:
            return embeds
        per_row = is_image.sum(dim=1)
        if not bool((per_row == image_features.shape[0]).all()):
            raise ValueError(
                f"each prompt needs exactly {image_features.shape[0]} <image> tokens, got {per_row.tolist()}")
        feats = image_features.to(embeds.dtype).repeat(input_ids.shape[0], 1)
        embeds = embeds.clone()
        embeds[is_image] = feats
        return embeds

    def forward(self, input_ids, image_features, attention_mask=None):
        """Training forward: logits for a right-padded batch of full sequences (no cache)."""
        embeds = self.splice(input_ids, image_features)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        logits, _ = self.decoder(embeds, attention_mask, positions, self.decoder.empty_cache(input_ids.shape[0]))
        return logits

    @torch.no_grad()
    def greedy(self, input_ids: list[int], image_features: torch.Tensor, max_new_tokens: int, eos_id: int) -> list[int]:
        """Reference greedy loop with the KV cache (the parity oracle for the ONNX engine)."""
        ids = torch.tensor([input_ids])
        embeds = self.splice(ids, image_features)
        past = self.decoder.empty_cache()
        mask = torch.ones(1, ids.shape[1], dtype=torch.int64)
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        out: list[int] = []
        for _ in range(max_new_tokens):
            logits, past = self.decoder(embeds, mask, pos, past)
            nxt = int(logits[0, -1].argmax())
            out.append(nxt)
            if nxt == eos_id:
                break
            embeds = self.embed_tokens(torch.tensor([[nxt]]))
            pos = torch.tensor([[mask.shape[1]]])
            mask = torch.ones(1, mask.shape[1] + 1, dtype=torch.int64)
        return out
