"""Training data from the real files: SLAKE-derived reports, grounding targets, splits."""

from __future__ import annotations

from radfound.tasks.prompts import parse_boxes
from radfound.training.data.grounding import scaled_to_input, slake_grounding_pairs
from radfound.training.data.slake_reports import derive_reports, read_detection
from radfound.training.data.vqa import slake, training_images, vqarad


def test_vqarad_parts_do_not_share_images(shared_data):
    train, held = vqarad("train", shared_data), vqarad("heldout", shared_data)
    assert len(train) == 2592 and len(held) == 472
    assert not {i.image for i in train} & {i.image for i in held}


def test_pretraining_sees_the_training_questions_images_only(shared_data):
    """Not even the pixels of held-out VQA-RAD images, SLAKE validation images or images in no question file
    (VQA-RAD has 315 images, 314 with train questions; SLAKE's test images have none)."""
    images = set(training_images(root=shared_data))
    held = {it.image for it in vqarad("heldout", shared_data)}
    validation = {it.image for it in slake("validate", shared_data)}
    assert len(images) == 267 + 450 and not images & (held | validation)
    assert images == {it.image for it in vqarad("train", shared_data)} | {it.image for it in slake("train", shared_data)}
    with_validation = training_images(slake_splits=("train", "validate"), root=shared_data)
    assert len(with_validation) == 267 + 450 + 96  # a config that trains on validation questions sees its pixels


def test_derived_report_for_a_known_image(shared_data):
    reports = {r.image.parent.name: r for r in derive_reports(slake("train", shared_data))}
    r = reports["xmlab1"]  # MRI abdomen, T2, liver box (see its QA and detection.json)
    assert r.modality == "MRI (T2-weighted)" and r.region == "abdomen"
    assert "liver" in [o.lower() for o in r.organs]
    assert r.caption.startswith("MRI (T2-weighted) of the abdomen")
    abnormal = [x for x in reports.values() if x.abnormal]
    assert abnormal and all(x.diseases or x.abnormality_location for x in abnormal[:20])


def test_grounding_targets_roundtrip_through_the_box_parser(shared_data):
    img = shared_data / "slake/imgs/xmlab10/source.jpg"
    boxes = read_detection(img)
    assert ("Liver", 49.0, 156.0, 41.0, 76.0) in boxes
    pairs = dict(slake_grounding_pairs(boxes, scaled_to_input(256, 256, 128), 128))
    (label, view, x0, y0, x1, y1), = parse_boxes(pairs["liver"])
    # [49, 156, 41, 76] on a 256-pixel image -> corners /256*1000
    assert label == "Liver" and view == 0
    assert (x0, y0, x1, y1) == (191, 609, 352, 906)
