"""Runs ``decoder_model_merged.onnx`` step by step, keeping the KV cache between steps.

- :class:`CpuDecoder`: the cache lives in numpy arrays; each step's ``present.*``
  outputs become the next step's ``past_key_values.*`` inputs (no copies on CPU).
- :class:`CudaDecoder`: IOBinding; ``present.*`` stay on the GPU as OrtValues and
  are bound as the next step's inputs, so the cache never round-trips to the host;
  the logits of single-token steps land in one reused host buffer. Not testable on a CPU-only machine
  (see docs/engine.md); selected only when the session really runs on CUDA.

Both expose ``start(batch)``, ``step(embeds, attention_mask, position_ids) -> logits
(B, V)`` of the last position, ``reorder(beam_indices)`` and ``length``.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort


class CpuDecoder:
    def __init__(self, session: ort.InferenceSession, num_layers: int, num_kv_heads: int, head_dim: int):
        self.session = session
        self.num_layers, self.kv, self.hd = num_layers, num_kv_heads, head_dim
        self.past_names = [f"past_key_values.{i}.{k}" for i in range(num_layers) for k in ("key", "value")]
        self.output_names = ["logits"] + [f"present.{i}.{k}" for i in range(num_layers) for k in ("key", "value")]
        self.dtype = np.float16 if "float16" in session.get_inputs()[0].type else np.float32
        cache_input = next(i for i in session.get_inputs() if i.name == self.past_names[0])
        self.cache_dtype = np.float16 if "float16" in cache_input.type else np.float32
        self.past: list[np.ndarray] = []
        self.length = 0

    def start(self, batch: int = 1) -> None:
        empty = np.zeros((batch, self.kv, 0, self.hd), dtype=self.cache_dtype)
        self.past = [empty] * (2 * self.num_layers)
        self.length = 0

    def step(self, embeds: np.ndarray, attention_mask: np.ndarray, position_ids: np.ndarray) -> np.ndarray:
        feeds = {"inputs_embeds": embeds.astype(self.dtype, copy=False), "attention_mask": attention_mask,
                 "position_ids": position_ids}
        feeds.update(zip(self.past_names, self.past))
        outs = self.session.run(self.output_names, feeds)
        self.past = outs[1:]
        self.length = attention_mask.shape[1]
        return outs[0][:, -1, :].astype(np.float32, copy=False)

    def reorder(self, beam_indices: np.ndarray) -> None:
        self.past = [p[beam_indices] for p in self.past]


class CudaDecoder(CpuDecoder):
    """IOBinding variant: cache tensors stay on the device between steps."""

    def __init__(self, session, num_layers, num_kv_heads, head_dim, device_id: int = 0):
        super().__init__(session, num_layers, num_kv_heads, head_dim)
        self.device_id = device_id
        self.binding = session.io_binding()
        self.past_values: list[ort.OrtValue] = []
        self.vocab = session.get_outputs()[0].shape[-1]
        self._step_logits: ort.OrtValue | None = None  # reused host buffer for the (B, 1, V) logits of each step

    def start(self, batch: int = 1) -> None:
        empty = np.zeros((batch, self.kv, 0, self.hd), dtype=self.cache_dtype)
        self.past_values = [ort.OrtValue.ortvalue_from_numpy(empty, "cuda", self.device_id)
                            for _ in range(2 * self.num_layers)]
        self.length = 0

    def step(self, embeds, attention_mask, position_ids):
        b = self.binding
        b.clear_binding_inputs()
        b.clear_binding_outputs()
        b.bind_cpu_input("inputs_embeds", np.ascontiguousarray(embeds.astype(self.dtype, copy=False)))
        b.bind_cpu_input("attention_mask", np.ascontiguousarray(attention_mask))
        b.bind_cpu_input("position_ids", np.ascontiguousarray(position_ids))
        for name, value in zip(self.past_names, self.past_values):
            b.bind_ortvalue_input(name, value)
        if embeds.shape[1] == 1 and isinstance(self.vocab, int):
            shape = [embeds.shape[0], 1, self.vocab]
            if self._step_logits is None or self._step_logits.shape() != shape:
                self._step_logits = ort.OrtValue.ortvalue_from_shape_and_type(shape, np.float32, "cpu", 0)
            b.bind_ortvalue_output("logits", self._step_logits)
        else:
            b.bind_output("logits", "cpu")
        for name in self.output_names[1:]:
            b.bind_output(name, "cuda", self.device_id)  # ORT allocates on device; reused as the next past
        self.session.run_with_iobinding(b)
        outs = b.get_outputs()
        self.past_values = list(outs[1:])
        self.length = attention_mask.shape[1]
        return outs[0].numpy()[:, -1, :].astype(np.float32, copy=False)

    def reorder(self, beam_indices: np.ndarray) -> None:
        # Beam reordering goes through the host (no device gather without torch/cupy); greedy never does this.
        self.past_values = [
            ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(v.numpy()[beam_indices]), "cuda", self.device_id)
            for v in self.past_values
        ]
