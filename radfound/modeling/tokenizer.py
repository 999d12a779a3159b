"""The RadFound tokenizer: byte-level BPE (``tokenizers``) that round-trips English and Chinese text.

Byte-level BPE never produces an unknown token: any UTF-8 text (SLAKE's Chinese
questions included) is representable, and merges learnt from the corpus make
common words short. The special tokens come from ``radfound.tasks.prompts`` (the one
place the prompt format lives), so training and the engine agree on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from radfound.tasks.prompts import SPECIAL_TOKENS, TEXT_TOKENS

#: A small bilingual radiology corpus for the random-weight ``tiny`` model and smoke tests.
BUILTIN_CORPUS = [
    "FINDINGS: The lungs are clear. No pleural effusion or pneumothorax. The cardiomediastinal silhouette is normal.",
    "IMPRESSION: No acute cardiopulmonary abnormality.",
    "FINDINGS: Right lower lobe consolidation. Small right pleural effusion. Heart size is normal.",
    "IMPRESSION: Right lower lobe pneumonia with small effusion.",
    "FINDINGS: Scattered fibroglandular densities. No suspicious mass, calcification or architectural distortion.",
    "IMPRESSION: BI-RADS 1, negative. Routine screening mammogram in one year.",
    "FINDINGS: Irregular spiculated mass in the left upper outer quadrant with pleomorphic microcalcifications.",
    "IMPRESSION: Highly suggestive of malignancy, BI-RADS 5. Tissue sampling recommended.",
    "FINDINGS: No intracranial haemorrhage. The ventricles are normal in size. No midline shift.",
    "IMPRESSION: Normal non-contrast CT of the head.",
    "Is there a pleural effusion? No. Where is the lesion? <box>120,340,260,480</box>",
    "Which organ is abnormal? The liver. Is this an MRI or a CT? CT. What modality is shown? X-ray.",
    "Does the picture contain lung? Yes. How many kidneys are visible? Two. Is the heart enlarged? No.",
    "这张图片是什么成像方式？CT。肺部是否有异常？是。病变位于哪里？左肺。",
    "图中是否有胸腔积液？没有。心脏大小正常吗？正常。这是哪个器官？肝脏。",
    "图像显示的主要器官是什么？大脑。是否存在肿块？存在，位于右上腹。",
]


def train_tokenizer(texts: Iterable[str], vocab_size: int, *, min_frequency: int = 2) -> Tokenizer:
    """Train a byte-level BPE tokenizer on ``texts`` with the RadFound special tokens.

    ``vocab_size`` is the final size: 256 byte symbols, merges, special and added tokens. The training
    engineer calls this on the SLAKE + VQA-RAD text; tests use :data:`BUILTIN_CORPUS`.
    """
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(TEXT_TOKENS),
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_as_iterator(texts), trainer=trainer)
    tok.add_tokens(list(TEXT_TOKENS))
    return tok


def _as_iterator(texts: Iterable[str]) -> Iterator[str]:
    for t in texts:
        if t:
            yield t


def builtin_tokenizer(vocab_size: int = 512) -> Tokenizer:
    """A deterministic tokenizer trained on the built-in corpus (for ``tiny`` and random-weight models)."""
    return train_tokenizer(BUILTIN_CORPUS * 4, vocab_size, min_frequency=2)


def special_token_ids(tok: Tokenizer) -> dict[str, int]:
    """Ids of the special tokens, by role: pad, bos, eos, unk, image, user, assistant."""
    roles = ["pad", "bos", "eos", "unk", "image", "user", "assistant"]
    return {role: tok.token_to_id(t) for role, t in zip(roles, SPECIAL_TOKENS)}
