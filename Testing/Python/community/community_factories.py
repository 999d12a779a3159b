"""Tiny randomly initialised Gemma 3 and Idefics3 models, their tokenizers and image processors, built offline."""

from __future__ import annotations

from tokenizers import Tokenizer, models, pre_tokenizers

#: A seed whose random Gemma 3 weights generate a long, varied answer rather than stopping at once.
GEMMA3_SEED = 2

WORDS = "the a of and is in heart lungs chest normal effusion left right lobe no mass size clear what are there any".split()


def make_tokenizer(specials: list[str]) -> Tokenizer:
    """A word-level tokenizer whose special tokens come first (ids 0..len-1), then WORDS."""
    vocab = {tok: i for i, tok in enumerate([*specials, *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(specials)
    return tok


GEMMA3_SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>",
                   "<start_of_image>", "<end_of_image>", "<image_soft_token>", "user", "model"]
IDEFICS3_SPECIALS = ["<|im_start|>", "<end_of_utterance>", "<unk>", "<fake_token_around_image>", "<global-img>",
                     "<image>", "User", "Assistant", ":",
                     *[f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]]


def tiny_gemma3(seed: int = 0):
    import torch
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    tok = make_tokenizer(GEMMA3_SPECIALS)
    ids = {t: tok.token_to_id(t) for t in GEMMA3_SPECIALS}
    cfg = Gemma3Config(
        text_config=dict(
            vocab_size=tok.get_vocab_size(), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, head_dim=16, sliding_window=8,
            layer_types=["sliding_attention", "full_attention"], max_position_embeddings=512,
            pad_token_id=ids["<pad>"], bos_token_id=ids["<bos>"], eos_token_id=ids["<eos>"],
        ),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8, vision_use_head=False),
        mm_tokens_per_image=4, boi_token_index=ids["<start_of_image>"], eoi_token_index=ids["<end_of_image>"],
        image_token_index=ids["<image_soft_token>"],
    )
    cfg.text_config._attn_implementation = cfg.vision_config._attn_implementation = "eager"
    cfg._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(cfg).eval()
    model.generation_config.eos_token_id = [ids["<eos>"], ids["<end_of_turn>"]]
    model.generation_config.pad_token_id = ids["<pad>"]
    model.generation_config.bos_token_id = ids["<bos>"]
    processor = Gemma3ImageProcessorPil(size={"height": 32, "width": 32})
    return model, tok, processor


def tiny_idefics3(seed: int = 0, splitting: bool = True, smolvlm: bool = False):
    """Idefics3 (SmolVLM v1), or with ``smolvlm`` the SmolVLM2 classes (model_type "smolvlm")."""
    import torch

    if smolvlm:
        from transformers import SmolVLMConfig as Idefics3Config
        from transformers import SmolVLMForConditionalGeneration as Idefics3ForConditionalGeneration
        from transformers.models.smolvlm.image_processing_pil_smolvlm import (
            SmolVLMImageProcessorPil as Idefics3ImageProcessorPil,
        )
    else:
        from transformers import Idefics3Config, Idefics3ForConditionalGeneration
        from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    tok = make_tokenizer(IDEFICS3_SPECIALS)
    ids = {t: tok.token_to_id(t) for t in IDEFICS3_SPECIALS}
    cfg = Idefics3Config(
        text_config=dict(
            model_type="llama", vocab_size=tok.get_vocab_size(), hidden_size=64, intermediate_size=128,
            num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
            pad_token_id=ids["<end_of_utterance>"], bos_token_id=ids["<|im_start|>"],
            eos_token_id=ids["<end_of_utterance>"],
        ),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8),
        scale_factor=2, image_token_id=ids["<image>"],
    )
    cfg._attn_implementation = "eager"
    cfg.text_config._attn_implementation = cfg.vision_config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = Idefics3ForConditionalGeneration(cfg).eval()
    model.generation_config.eos_token_id = ids["<end_of_utterance>"]
    model.generation_config.pad_token_id = ids["<end_of_utterance>"]
    processor = Idefics3ImageProcessorPil(size={"longest_edge": 64}, max_image_size={"longest_edge": 32},
                                          do_image_splitting=splitting)
    return model, tok, processor
