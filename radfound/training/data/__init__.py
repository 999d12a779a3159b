"""Training data: VQA-RAD and SLAKE questions, SLAKE-derived captions/reports and boxes, phantoms.

Nothing here imports torch: the evaluation harness and tests use the same loaders.
"""

#: DICOM modalities of the training images: X-ray (VQA-RAD, SLAKE), CT and MR (both, and the CT phantoms),
#: mammography (the phantoms). Written into the model's manifest; the engine warns on any other modality.
TRAINED_MODALITIES = ("CR", "DX", "CT", "MR", "MG")
