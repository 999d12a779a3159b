"""Runs ``decoder_model_merged.onnx`` step by step, keeping the KV cache between steps.

- :class:`CpuDecoder`: the cache lives in numpy arrays; each step's ``present.*``
  outputs become the next step's ``past_key_values.*`` inputs (no copies on CPU).
- :class:`CudaDecoder`: IOBinding; ``present.*`` stay on the GPU as OrtValues and
  are bound as the next step's inputs, so the cache never round-trips to the host;
  the logits of single-token steps land in one reused host buffer. Not testable on a
  CPU-only machine (see docs/engine.md); selected only when the session really runs on CUDA.
- :class:`InPlaceDecoder`: for graphs built by ``radfound.export.gqa_decoder``: one
  preallocated cache buffer bound as both past and present (CPU or CUDA).

All expose ``start(batch)``, ``step(embeds, attention_mask, position_ids) -> logits
(B, V)`` of the last position, ``reorder(beam_indices)`` and ``length``; a runner with
``needs_capacity = True`` (:class:`InPlaceDecoder`) also takes ``start(batch, capacity=N)``,
the most tokens the generation will hold.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

#: Model metadata (key, value) of a decoder graph whose ``present`` may alias ``past`` (GroupQueryAttention's
#: shared buffer); the exporter writes it, the engine then uses :class:`InPlaceDecoder`.
IN_PLACE_METADATA = ("radfound.kv_cache", "gqa-shared-buffer")


def supports_in_place_cache(session: ort.InferenceSession) -> bool:
    key, value = IN_PLACE_METADATA
    return session.get_modelmeta().custom_metadata_map.get(key) == value


def bind_step_inputs(binding, dtype, embeds, attention_mask, position_ids):
    """Clear an IOBinding and bind one decoder step's host inputs (the cache is bound by the caller)."""
    binding.clear_binding_inputs()
    binding.clear_binding_outputs()
    binding.bind_cpu_input("inputs_embeds", np.ascontiguousarray(embeds.astype(dtype, copy=False)))
    binding.bind_cpu_input("attention_mask", np.ascontiguousarray(attention_mask))
    binding.bind_cpu_input("position_ids", np.ascontiguousarray(position_ids))
    return binding


class CpuDecoder:
    def __init__(self, session: ort.InferenceSession, num_layers: int, num_kv_heads: int, head_dim: int):
        self.session = session
        self.num_layers, self.kv, self.hd = num_layers, num_kv_heads, head_dim
        self.past_names = [f"past_key_values.{i}.{k}" for i in range(num_layers) for k in ("key", "value")]
        self.output_names = ["logits"] + [f"present.{i}.{k}" for i in range(num_layers) for k in ("key", "value")]
        self.dtype = np.float16 if "float16" in session.get_inputs()[0].type else np.float32
        self.logits_dtype = np.float16 if "float16" in session.get_outputs()[0].type else np.float32
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
        b = bind_step_inputs(self.binding, self.dtype, embeds, attention_mask, position_ids)
        for name, value in zip(self.past_names, self.past_values):
            b.bind_ortvalue_input(name, value)
        if embeds.shape[1] == 1 and isinstance(self.vocab, int):
            shape = [embeds.shape[0], 1, self.vocab]
            if self._step_logits is None or self._step_logits.shape() != shape:
                self._step_logits = ort.OrtValue.ortvalue_from_shape_and_type(shape, self.logits_dtype, "cpu", 0)
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


class InPlaceDecoder(CpuDecoder):
    """Preallocated cache written in place (GroupQueryAttention's shared past/present buffer), via IOBinding.

    For graphs built by ``radfound.export.gqa_decoder`` (model metadata ``radfound.kv_cache``):
    ``past_key_values.*`` and ``present.*`` are bound to the same (B, kv, capacity, hd) buffer,
    so no step allocates, concatenates or copies the cache. Logits are identical to the
    growing-cache mode (tested). On CPU the buffers are numpy arrays shared with ORT; on CUDA
    they are device OrtValues (reordering beams then goes through the host).
    """

    needs_capacity = True

    def __init__(self, session, num_layers, num_kv_heads, head_dim, device: str = "cpu", device_id: int = 0,
                 default_capacity: int = 1024):
        super().__init__(session, num_layers, num_kv_heads, head_dim)
        self.device, self.device_id = device, device_id
        self.default_capacity = default_capacity
        self.binding = session.io_binding()
        self.buffers: list[ort.OrtValue] = []
        self.arrays: list[np.ndarray] = []  # CPU only: the numpy memory behind self.buffers
        self.capacity = 0
        self.vocab = session.get_outputs()[0].shape[-1]
        self._step_logits: ort.OrtValue | None = None
        self.run_options: ort.RunOptions | None = None  # CudaGraphDecoder: capture off for these steps

    def _allocate(self, arrays: list[np.ndarray]) -> None:
        if self.device == "cpu":
            self.arrays = arrays
            self.buffers = [ort.OrtValue.ortvalue_from_numpy(a) for a in arrays]  # shares the numpy memory
        else:
            self.arrays = []
            self.buffers = [ort.OrtValue.ortvalue_from_numpy(a, self.device, self.device_id) for a in arrays]

    def start(self, batch: int = 1, capacity: int | None = None, beams: bool = False) -> None:
        self.capacity = max(int(capacity or self.default_capacity), 1)
        shape = (batch, self.kv, self.capacity, self.hd)
        self._allocate([np.zeros(shape, dtype=self.cache_dtype) for _ in range(2 * self.num_layers)])
        self.length = 0

    def step(self, embeds, attention_mask, position_ids):
        if attention_mask.shape[1] > self.capacity:
            raise ValueError(f"KV cache capacity {self.capacity} exceeded ({attention_mask.shape[1]} tokens)")
        b = bind_step_inputs(self.binding, self.dtype, embeds, attention_mask, position_ids)
        if embeds.shape[1] == 1 and isinstance(self.vocab, int):  # logits bound first: get_outputs()[0]
            shape = [embeds.shape[0], 1, self.vocab]
            if self._step_logits is None or self._step_logits.shape() != shape:
                self._step_logits = ort.OrtValue.ortvalue_from_shape_and_type(shape, self.logits_dtype, "cpu", 0)
            b.bind_ortvalue_output("logits", self._step_logits)
        else:
            b.bind_output("logits", "cpu")
        for past, present, value in zip(self.past_names, self.output_names[1:], self.buffers):
            b.bind_ortvalue_input(past, value)
            b.bind_ortvalue_output(present, value)
        self.session.run_with_iobinding(b, self.run_options)
        self.length = attention_mask.shape[1]
        logits = b.get_outputs()[0].numpy()
        return logits[:, -1, :].astype(np.float32, copy=False)

    def reorder(self, beam_indices: np.ndarray) -> None:
        host = self.arrays if self.device == "cpu" else [v.numpy() for v in self.buffers]
        self._allocate([np.ascontiguousarray(a[beam_indices]) for a in host])
