"""The generation engine: ONNX Runtime sessions over a verified model folder (never imports torch)."""

from radfound.engine.generation import Generated, GenerationConfig
from radfound.engine.model import EncodedStudy, RadFoundModel, load_model

__all__ = ["EncodedStudy", "Generated", "GenerationConfig", "RadFoundModel", "load_model"]
