"""torch -> ONNX export of RadFound models (imports torch; never imported by the runtime path)."""
