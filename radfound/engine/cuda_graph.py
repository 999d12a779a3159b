"""Single-token decode steps replayed as one captured CUDA graph (ONNX Runtime ``enable_cuda_graph``).

A ~1B-parameter decoder on an H100 spends most of a token launching a few hundred small kernels
(measured: 2.7 ms/token against a 0.86 ms memory-bandwidth floor, docs/benchmarks.md). ORT can
capture those launches once and replay them, provided every input and output of the replayed run
sits at the same device address with the same shape. So this runner keeps, for batch 1:

- the in-place KV cache (GroupQueryAttention's shared past/present buffer) at the model's full
  context, allocated once and reused by every generation;
- a static attention mask of that width (ones up to the current length, zeros after: GQA reads
  the valid length from the mask's sum), and static ``inputs_embeds``, ``position_ids`` and
  ``logits`` buffers, refreshed in place before each replay.

Prompts (several tokens), beams and answer scoring (batch > 1) run the ordinary in-place path
with graph capture turned off for that run (``gpu_graph_id = -1``). Needs a session created with
``enable_cuda_graph`` (:func:`radfound.engine.providers.create_session`); ORT refuses that for a
graph with nodes outside CUDA, and the engine then uses
:class:`~radfound.engine.decoder_runner.InPlaceDecoder`.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from radfound.engine.decoder_runner import InPlaceDecoder

GRAPH_ID = "1"


def _run_options(graph_id: str) -> ort.RunOptions:
    options = ort.RunOptions()
    options.add_run_config_entry("gpu_graph_id", graph_id)
    return options


class CudaGraphDecoder(InPlaceDecoder):
    """:class:`InPlaceDecoder` whose batch-1 single-token steps replay a captured CUDA graph."""

    def __init__(self, session, num_layers, num_kv_heads, head_dim, device_id: int = 0,
                 default_capacity: int = 1024):
        super().__init__(session, num_layers, num_kv_heads, head_dim, device="cuda", device_id=device_id,
                         default_capacity=default_capacity)
        self.run_options = _run_options("-1")  # prompts, beams, scoring: InPlaceDecoder.step, capture off
        self.replay = _run_options(GRAPH_ID)
        self.graph_capacity = default_capacity
        self.graph_buffers: list[ort.OrtValue] = []  # the cache the captured graph reads and writes
        self.graph_binding: ort.IOBinding | None = None
        self.graph_steps = 0  # single-token steps that went through the graph (reported by the benchmark)

    def _graph_io(self) -> None:
        """Allocate the static buffers and bind them once: replays must see the same addresses."""
        d = self.session.get_inputs()[0].shape[-1]
        cap = self.graph_capacity
        self.graph_buffers = [
            ort.OrtValue.ortvalue_from_numpy(np.zeros((1, self.kv, cap, self.hd), self.cache_dtype),
                                             "cuda", self.device_id)
            for _ in range(2 * self.num_layers)]
        self.mask_host = np.zeros((1, cap), np.int64)
        self.g_embeds = ort.OrtValue.ortvalue_from_numpy(np.zeros((1, 1, d), self.dtype), "cuda", self.device_id)
        self.g_mask = ort.OrtValue.ortvalue_from_numpy(self.mask_host, "cuda", self.device_id)
        self.g_pos = ort.OrtValue.ortvalue_from_numpy(np.zeros((1, 1), np.int64), "cuda", self.device_id)
        self.g_logits = ort.OrtValue.ortvalue_from_shape_and_type([1, 1, self.vocab], self.logits_dtype,
                                                                  "cuda", self.device_id)
        b = self.graph_binding = self.session.io_binding()
        b.bind_ortvalue_input("inputs_embeds", self.g_embeds)
        b.bind_ortvalue_input("attention_mask", self.g_mask)
        b.bind_ortvalue_input("position_ids", self.g_pos)
        b.bind_ortvalue_output("logits", self.g_logits)
        for past, present, value in zip(self.past_names, self.output_names[1:], self.graph_buffers):
            b.bind_ortvalue_input(past, value)
            b.bind_ortvalue_output(present, value)

    def start(self, batch: int = 1, capacity: int | None = None, beams: bool = False) -> None:
        """Batch 1 takes the graph's static cache; beams and scoring (``beams``: the cache is about to be
        copied per row, through the host) take an ordinary cache of just the capacity they need."""
        wanted = max(int(capacity or self.default_capacity), 1)
        if beams or batch != 1 or wanted > self.graph_capacity or not isinstance(self.vocab, int):
            super().start(batch, capacity)
            return
        if self.graph_binding is None:
            self._graph_io()
        self.buffers, self.capacity, self.length = self.graph_buffers, self.graph_capacity, 0

    def _on_graph(self) -> bool:
        return self.graph_binding is not None and self.buffers is self.graph_buffers

    def step(self, embeds, attention_mask, position_ids):
        if not (self._on_graph() and embeds.shape[:2] == (1, 1)):
            return super().step(embeds, attention_mask, position_ids)
        total = attention_mask.shape[1]
        if total > self.capacity:
            raise ValueError(f"KV cache capacity {self.capacity} exceeded ({total} tokens)")
        self.mask_host[:] = 0
        self.mask_host[0, :total] = attention_mask[0]
        self.g_mask.update_inplace(self.mask_host)
        self.g_embeds.update_inplace(np.ascontiguousarray(embeds.astype(self.dtype, copy=False)))
        self.g_pos.update_inplace(np.ascontiguousarray(position_ids, dtype=np.int64))
        self.session.run_with_iobinding(self.graph_binding, self.replay)
        self.length = total
        self.graph_steps += 1
        return self.g_logits.numpy()[:, -1, :].astype(np.float32, copy=False)
