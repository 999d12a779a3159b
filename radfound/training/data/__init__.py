"""Training data: VQA-RAD and SLAKE questions, SLAKE-derived captions/reports and boxes, phantoms.

Nothing here imports torch: the evaluation harness and tests use the same loaders.
"""
