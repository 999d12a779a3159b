"""The RadFound model family in PyTorch: configs, tokenizer, model, checkpoints (training and export only)."""
