"""Several questions about one study in one training sequence, each seeing only the image and itself.

A RadFound prompt is ``<bos><|user|>\\n<image>*K\\n{instruction}<|assistant|>\\n`` and the target follows it.
The first part (the *prefix*, 3 + K tokens) is the same for every question about a study, so one
sequence holds the prefix once and then R segments ``{instruction}<|assistant|>\\n{target}<eos>``.
The attention mask lets a segment see the prefix and its own earlier tokens only, and its positions
continue from the prefix as if it were alone: every segment computes exactly what its own
single-question sequence would (tested), while the K image positions are run once instead of R times.
With K = 32 and R = 6 a VQA batch has about half the tokens.
"""

from __future__ import annotations

import torch

from radfound.tasks.prompts import ASSISTANT, BOS, EOS, IMAGE, USER, chat, clean_user_text


def prefix_text(num_image_tokens: int) -> str:
    return f"{BOS}{USER}\n{IMAGE * num_image_tokens}\n"


class PackedBatcher:
    """Tokenises groups of (instruction, target) rows, one group per study, into packed sequences."""

    def __init__(self, tokenizer, num_image_tokens: int, max_target_tokens: int):
        self.tok = tokenizer
        self.k = num_image_tokens
        self.max_target = max_target_tokens
        self.pad = tokenizer.token_to_id("<pad>")
        self.eos = tokenizer.token_to_id(EOS)
        self.prefix = tokenizer.encode(prefix_text(num_image_tokens), add_special_tokens=False).ids
        self.image_start = self.prefix.index(tokenizer.token_to_id(IMAGE))
        self._instructions: dict[str, list[int]] = {}

    def instruction_ids(self, instruction: str) -> list[int]:
        ids = self._instructions.get(instruction)
        if ids is None:
            ids = self.tok.encode(f"{clean_user_text(instruction)}{ASSISTANT}\n", add_special_tokens=False).ids
            whole = self.tok.encode(chat(instruction, self.k), add_special_tokens=False).ids
            if self.prefix + ids != whole:  # the split must not change how the prompt tokenises
                raise ValueError(f"instruction {instruction[:40]!r} tokenises differently after the image prefix")
            self._instructions[instruction] = ids
        return ids

    def segment(self, instruction: str, target: str) -> tuple[list[int], int]:
        """(segment ids, where its target starts in it)."""
        ids = self.instruction_ids(instruction)
        tgt = self.tok.encode(target, add_special_tokens=False).ids[: self.max_target - 1] + [self.eos]
        return ids + tgt, len(ids)

    def __call__(self, groups: list[list[tuple[str, str]]]):
        """ids, labels (-100 off target), positions (B, T) and an additive mask (B, 1, T, T)."""
        rows = []
        for group in groups:
            ids, labels, pos, seg = list(self.prefix), [-100] * len(self.prefix), list(range(len(self.prefix))), \
                [0] * len(self.prefix)
            for s, (instruction, target) in enumerate(group, start=1):
                seq, start = self.segment(instruction, target)
                ids += seq
                labels += [-100] * start + seq[start:]
                pos += list(range(len(self.prefix), len(self.prefix) + len(seq)))
                seg += [s] * len(seq)
            rows.append((ids, labels, pos, seg))
        width = max(len(r[0]) for r in rows)
        b = len(rows)
        ids = torch.full((b, width), self.pad, dtype=torch.long)
        labels = torch.full((b, width), -100, dtype=torch.long)
        positions = torch.zeros((b, width), dtype=torch.long)
        segments = torch.full((b, width), -1, dtype=torch.long)  # -1: padding
        for r, (i, lab, p, s) in enumerate(rows):
            n = len(i)
            ids[r, :n], labels[r, :n] = torch.tensor(i), torch.tensor(lab)
            positions[r, :n], segments[r, :n] = torch.tensor(p), torch.tensor(s)
        return ids, labels, positions, packed_mask(segments)


def packed_mask(segments: torch.Tensor) -> torch.Tensor:
    """(B, 1, T, T) additive mask: query i sees key j <= i when j is in the prefix (segment 0) or in i's segment;
    a padding query sees only itself (so no softmax row is empty)."""
    t = segments.shape[1]
    causal = torch.ones(t, t, dtype=torch.bool).tril()
    q, k = segments[:, :, None], segments[:, None, :]
    allowed = causal & ((k == 0) | (k == q)) & (k >= 0) & (q >= 0)
    allowed |= torch.eye(t, dtype=torch.bool) & (q < 0)
    zero = torch.zeros((), dtype=torch.float32)
    return torch.where(allowed, zero, torch.full((), torch.finfo(torch.float32).min)).unsqueeze(1)
