"""radfound-base's recipe: pretrained SmolLM2 + EfficientNet-Lite0, tuned in resumable stages (``radfound train
--config base``). pool: the training rows; stages: the loop, its parameter groups and checkpoints; kit: what git
keeps of the result; recipe: the whole run."""
