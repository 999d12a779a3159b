"""The model card: written from real eval output, hashed into the manifest, licences stated."""

from __future__ import annotations

import json
import shutil

from radfound.cli.main import main
from radfound.registry.manifest import verify_model_dir
from radfound.training.model_card import write_card


def test_card_is_in_the_manifest_and_carries_the_numbers(shared_data, tiny_model_dir, tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    ev = tmp_path / "eval"
    ev.mkdir()
    assert main(["eval", "vqa", "--questions", str(shared_data / "slake/validate.json"),
                 "--images", str(shared_data / "slake/imgs"), "--limit", "40", "--baselines-only", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    (ev / "slake_val.json").write_text(json.dumps(result), encoding="utf-8")
    assert main(["eval", "vqa", "--questions", str(shared_data / "vqa-rad/train.json"), "--images",
                 str(shared_data / "vqa-rad/images"), "--split", "heldout", "--limit", "40", "--model",
                 str(tiny_model_dir), "--json"]) == 0
    vqarad = json.loads(capsys.readouterr().out)
    (ev / "vqarad_heldout.json").write_text(json.dumps(vqarad), encoding="utf-8")
    assert main(["eval", "report", "--set", "ct", "--n", "3", "--model", str(tiny_model_dir), "--json"]) == 0
    ct = json.loads(capsys.readouterr().out)
    (ev / "ct.json").write_text(json.dumps(ct), encoding="utf-8")
    run = tmp_path / "run"
    run.mkdir()
    summary = {"parameters": 1_234_567, "minutes": 1.5, "instruct": {"steps": 3, "ema_decay": 0.999},
               "config": "/x/radfound/training/configs/small_160.json", "seed": 77}
    (run / "summary.json").write_text(json.dumps(summary), encoding="utf-8")

    card = write_card(model, run, ev).read_text(encoding="utf-8")
    manifest = verify_model_dir(model)  # raises if the card were unlisted or the hashes stale
    assert "MODEL_CARD.md" in manifest["files"]
    assert "CC BY 4.0" in card and "CC0" in card and "Not a medical device" in card.replace("**", "")
    assert "synthetic images, not patient data" in card and "1.23 M parameters" in card
    assert "moving average of its weights (decay 0.999)" in card  # the recipe says how the weights ended
    # The architecture and recipe come from the model's own config.json and the run's summary.json.
    vision = json.loads((model / "config.json").read_text(encoding="utf-8"))["vision_config"]
    assert f"ViT encoder ({vision['image_size']} px input" in card and f"width {vision['hidden_size']}," in card
    assert "`radfound train --config small_160` (radfound/training/configs/small_160.json, seed 77), 1.5 min" in card
    prior = result["baselines"]["question_prior"]["by_lang"]["en"]["overall"]
    assert f"| question_prior | {100 * prior:.1f} |" in card
    # The model's intervals stand under its table; the baselines-only SLAKE result has none to show.
    lo, hi = vqarad["model"]["closed_acc_ci95"]
    assert f"closed {100 * lo:.1f}-{100 * hi:.1f}%" in card
    assert f"{100 * vqarad['model']['closed_gain_over_prior']['diff']:.1f} points above the question prior" in card
    assert card.count("95% intervals for RadFound-small") == 1
    lo, hi = ct["model"]["side"]["f1_ci95"]
    assert f"95% intervals of side F1, phantoms resampled: neck CT {lo:.3f}-{hi:.3f}." in card


def test_card_says_whether_the_evaluation_images_pixels_were_seen(tiny_model_dir, tmp_path):
    """Runs before the pretraining pool was cut to the training questions' images (no ``real_images`` in
    summary.json) saw held-out and validation pixels in masked image modelling: the card must say so."""
    model, run, ev = tmp_path / "model", tmp_path / "run", tmp_path / "eval"
    shutil.copytree(tiny_model_dir, model)
    run.mkdir()
    ev.mkdir()
    (run / "summary.json").write_text(json.dumps({"parameters": 1, "minutes": 1}), encoding="utf-8")
    card = write_card(model, run, ev).read_text(encoding="utf-8")
    assert "**but their pixels were**" in card and "472 questions; no question trained on; pixels seen" in card
    (run / "summary.json").write_text(json.dumps({"parameters": 1, "minutes": 1, "real_images": 717}), "utf-8")
    card = write_card(model, run, ev).read_text(encoding="utf-8")
    assert "only the 717 images of the training questions" in card and "472 questions; not trained on)" in card
    assert "pixels were" not in card
    verify_model_dir(model)
