"""Measure a SmolVLM-256M-shaped community model (random weights) on this machine: ORT engine vs transformers.

Not a test (timings are never asserted). Run:

    nice .venv/bin/python Testing/Python/community/measure_community_speed.py [--splitting]

Builds the model from the published SmolVLM-256M architecture numbers (no download), exports it with
radfound.export.families, encodes the real chest radiograph RG1_UNCR.dcm (pydicom-data) and
generates 32 tokens greedily with both; prints encode time, prefill (time to first token) and
decode ms/token, median of 3 runs after a warm-up, and checks that the tokens agree.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from community_factories import IDEFICS3_SPECIALS, make_tokenizer  # noqa: E402


def build(splitting: bool):
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    tok = make_tokenizer(IDEFICS3_SPECIALS)
    ids = {t: tok.token_to_id(t) for t in IDEFICS3_SPECIALS}
    cfg = Idefics3Config(
        text_config=dict(model_type="llama", vocab_size=49280, hidden_size=576, intermediate_size=1536,
                         num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3,
                         max_position_embeddings=8192, rope_theta=100000.0,
                         eos_token_id=ids["<end_of_utterance>"], pad_token_id=ids["<end_of_utterance>"]),
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                           image_size=512, patch_size=16),
        scale_factor=4, image_token_id=ids["<image>"],
    )
    cfg._attn_implementation = cfg.text_config._attn_implementation = cfg.vision_config._attn_implementation = "eager"
    torch.manual_seed(0)
    model = Idefics3ForConditionalGeneration(cfg).eval()
    model.generation_config.eos_token_id = ids["<end_of_utterance>"]
    proc = Idefics3ImageProcessorPil(size={"longest_edge": 2048 if splitting else 512},
                                     max_image_size={"longest_edge": 512}, do_image_splitting=splitting)
    return model, tok, proc


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--splitting", action="store_true", help="SmolVLM's default 2048 px splitting into 512 px tiles")
    p.add_argument("--new-tokens", type=int, default=32)
    args = p.parse_args()
    from pydicom.data import get_testdata_file

    from radfound.engine.families.community import CommunityVLModel
    from radfound.export.families import export_community
    from radfound.study.reader import read_study

    torch.set_num_threads(2)
    model, tok, proc = build(args.splitting)
    params = sum(p.numel() for p in model.parameters())
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        folder = export_community(model, tok, Path(tmp) / "smolvlm-256m-shaped", image_processor=proc)
        export_s = time.perf_counter() - t0
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        t0 = time.perf_counter()
        engine = CommunityVLModel(folder, device="cpu")
        load_s = time.perf_counter() - t0
        study = read_study(get_testdata_file("RG1_UNCR.dcm"))
        enc = engine.encode(study)
        ids = engine.prompt_ids(enc, "Describe the findings.")
        feeds, _ = engine.family.vision_inputs([__import__("radfound.engine.families.images", fromlist=["x"])
                                                .study_images(study)[0]])
        ort_runs, hf_runs = [], []
        for _ in range(4):
            t0 = time.perf_counter()
            enc = engine.encode(study)
            res = engine.generate_ids(ids, enc.image_features, max_new_tokens=args.new_tokens)
            ort_runs.append((enc.encode_ms, res.timings.ttft_ms, res.timings.decode_ms_per_token,
                             (time.perf_counter() - t0) * 1e3))
            inputs = {k: torch.from_numpy(v) for k, v in feeds.items()}
            t0 = time.perf_counter()
            with torch.no_grad():
                hf = model.generate(input_ids=torch.from_numpy(ids)[None],
                                    attention_mask=torch.ones(1, len(ids), dtype=torch.long), **inputs,
                                    max_new_tokens=args.new_tokens, do_sample=False, min_new_tokens=args.new_tokens)
            hf_runs.append((time.perf_counter() - t0) * 1e3)
        ort_runs, hf_runs = ort_runs[1:], hf_runs[1:]  # first round is warm-up
        med = [statistics.median(r[i] for r in ort_runs) for i in range(4)]
        same = res.token_ids == hf[0, len(ids):].tolist()[: len(res.token_ids)]
    print(f"SmolVLM-256M-shaped: {params / 1e6:.0f} M parameters, folder {size / 1e9:.2f} GB, export {export_s:.0f} s, "
          f"load+verify {load_s:.1f} s")
    print(f"prompt {len(ids)} tokens ({int((ids == engine.family.image_token_id).sum())} image tokens, "
          f"{feeds['pixel_values'].shape[1]} tiles), {args.new_tokens} new tokens, tokens agree: {same}")
    print(f"ORT: encode {med[0]:.0f} ms, first token {med[1]:.0f} ms, decode {med[2]:.1f} ms/token, "
          f"total {med[3]:.0f} ms (median of 3)")
    print(f"transformers eager generate (pixels already preprocessed): total {statistics.median(hf_runs):.0f} ms")


if __name__ == "__main__":
    main()
