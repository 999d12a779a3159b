"""The RadFound vision-language model in PyTorch (training, export and the parity reference only)."""

from __future__ import annotations

import torch
from torch import nn

from radfound.modeling.configs import RadFoundConfig
from radfound.modeling.decoder import Decoder
from radfound.modeling.vision import ConvStem, EfficientNetPatches, StudyEncoder


class ExtendedEmbedding(nn.Module):
    """A pretrained token table (frozen) with new rows after it (trained): RadFound's special tokens."""

    def __init__(self, pretrained_rows: int, total_rows: int, dim: int):
        super().__init__()
        if not 0 < pretrained_rows <= total_rows:
            raise ValueError(f"pretrained_vocab_size must be in 1..vocab_size ({pretrained_rows}, {total_rows})")
        self.pretrained = nn.Parameter(torch.zeros(pretrained_rows, dim), requires_grad=False)
        self.extra = nn.Parameter(torch.zeros(total_rows - pretrained_rows, dim))

    @property
    def weight(self) -> torch.Tensor:
        return torch.cat([self.pretrained, self.extra])

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return nn.functional.embedding(input_ids, self.weight)


class TiedHead(nn.Module):
    """The output head that reuses the token embedding matrix (held outside the module tree: one copy)."""

    def __init__(self, embedding: nn.Module):
        super().__init__()
        self._embedding = [embedding]

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden @ self._embedding[0].weight.t()


class RadFoundModel(nn.Module):
    """Study encoder + token embeddings + causal decoder; the three parts export to three ONNX graphs.

    With ``text.pretrained_vocab_size`` the embedding is a frozen pretrained table plus trained rows, with
    ``tie_word_embeddings`` the head is that table, and with ``lora_rank`` the decoder's projections are
    frozen plus LoRA adapters (radfound-base; the pretrained weights are loaded by radfound.modeling.pretrained)."""

    def __init__(self, config: RadFoundConfig, image_token_id: int = 4):
        super().__init__()
        self.config = config
        self.image_token_id = image_token_id
        t = config.text
        self.vision = StudyEncoder(config.vision, t.hidden_size)
        if t.pretrained_vocab_size:
            self.embed_tokens = ExtendedEmbedding(t.pretrained_vocab_size, t.vocab_size, t.hidden_size)
        else:
            self.embed_tokens = nn.Embedding(t.vocab_size, t.hidden_size)
        self.decoder = Decoder(t)
        self.reset_parameters()
        if t.tie_word_embeddings:
            self.decoder.lm_head = TiedHead(self.embed_tokens)
        if t.lora_rank:
            from radfound.modeling.lora import apply_lora

            apply_lora(self.decoder, t.lora_rank, t.lora_alpha)

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
        if isinstance(self.vision.patch_embed, EfficientNetPatches):  # PyTorch's own conv/BN init (or ImageNet's)
            for m in self.vision.patch_embed.net.modules():
                if isinstance(m, (nn.Conv2d, nn.BatchNorm2d)):
                    m.reset_parameters()
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
