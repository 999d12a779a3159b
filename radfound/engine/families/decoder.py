"""Step-wise runner of a community ``decoder_model_merged`` graph, with the tensor names it really has.

Same interface as :class:`radfound.engine.decoder_runner.CpuDecoder` (``start``, ``step``,
``reorder``, ``length``), so the engine's greedy, sampling and beam search run community
models unchanged; names come from :mod:`.io_names` (genai_config.json honoured). Models
with several end-of-sequence ids (Gemma 3 stops at ``<eos>`` and ``<end_of_turn>``) have
them folded into the first one: its logit becomes the largest of theirs and the others are
masked, which keeps greedy decoding identical to transformers' ``generate``.

With ``cache_device="cuda"`` (chosen when the session runs on CUDA) the cache stays on the GPU
between steps through IOBinding, as the engine's CudaDecoder does: without it ORT would copy the
whole cache to the host and back every token (for MedGemma ~0.3 MB per cached token, each way).
``cache_device="cpu"`` runs the same binding code on the CPU, which is how the tests cover it.

A decoder with a ``token_type_ids`` input (Gemma 3 exported with bidirectional image attention)
gets the prompt's image-token flags on the first step (``prefill_token_types``) and zeros after.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from radfound.engine.families.io_names import ModelNames

_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


class NamedDecoder:
    def __init__(self, session: ort.InferenceSession, names: ModelNames, num_layers: int, num_kv_heads: int,
                 head_dim: int, eos_ids: list[int], cache_device: str | None = None):
        self.session, self.names = session, names
        self.cache_device = cache_device  # None: plain run() with numpy; "cuda"/"cpu": IOBinding
        inputs = {i.name: i for i in session.get_inputs()}
        self.num_layers, self.kv, self.hd = num_layers, num_kv_heads, head_dim
        self.past_names = [n % i for i in range(num_layers) for n in (names.past_key, names.past_value)]
        self.output_names = [names.decoder.output("logits")]
        self.output_names += [n % i for i in range(num_layers) for n in (names.present_key, names.present_value)]
        self.embeds_name = names.decoder.input("inputs_embeds")
        self.mask_name = names.decoder.input("attention_mask")
        self.positions_name = names.decoder.input("position_ids")
        self.types_name = names.decoder.input("token_type_ids")
        self.has_mask, self.has_positions = self.mask_name in inputs, self.positions_name in inputs
        self.has_types = self.types_name in inputs
        self.prefill_token_types: np.ndarray | None = None  # (1, T) int64, set before a prompt is decoded
        self.dtype = _TYPES.get(inputs[self.embeds_name].type, np.float32)
        self.cache_dtype = _TYPES.get(inputs[self.past_names[0]].type, np.float32)
        self.eos_ids = list(eos_ids)
        self.past: list = []  # numpy arrays, or OrtValues with a cache_device
        self.length = 0

    def start(self, batch: int = 1) -> None:
        empty = np.zeros((batch, self.kv, 0, self.hd), dtype=self.cache_dtype)
        if self.cache_device:
            self.past = [ort.OrtValue.ortvalue_from_numpy(empty, self.cache_device, 0) for _ in self.past_names]
        else:
            self.past = [empty] * (2 * self.num_layers)
        self.length = 0

    def _inputs(self, embeds: np.ndarray, attention_mask: np.ndarray, position_ids: np.ndarray) -> dict:
        feeds = {self.embeds_name: np.ascontiguousarray(embeds.astype(self.dtype, copy=False))}
        if self.has_mask:
            feeds[self.mask_name] = np.ascontiguousarray(attention_mask)
        if self.has_positions:
            feeds[self.positions_name] = np.ascontiguousarray(position_ids)
        if self.has_types:
            types = self.prefill_token_types
            first = self.length == 0 and types is not None and types.shape == embeds.shape[:2]
            feeds[self.types_name] = types if first else np.zeros(embeds.shape[:2], dtype=np.int64)
        return feeds

    def _run_bound(self, feeds: dict) -> np.ndarray:
        binding = self.session.io_binding()
        for name, value in feeds.items():
            binding.bind_cpu_input(name, value)
        for name, value in zip(self.past_names, self.past):
            binding.bind_ortvalue_input(name, value)
        binding.bind_output(self.output_names[0], "cpu")
        for name in self.output_names[1:]:
            binding.bind_output(name, self.cache_device, 0)  # ORT allocates there; reused as the next past
        self.session.run_with_iobinding(binding)
        outs = binding.get_outputs()
        self.past = list(outs[1:])
        return outs[0].numpy()

    def step(self, embeds: np.ndarray, attention_mask: np.ndarray, position_ids: np.ndarray) -> np.ndarray:
        feeds = self._inputs(embeds, attention_mask, position_ids)
        if self.cache_device:
            logits = self._run_bound(feeds)
        else:
            feeds.update(zip(self.past_names, self.past))
            outs = self.session.run(self.output_names, feeds)
            self.past, logits = outs[1:], outs[0]
        self.length = attention_mask.shape[1]
        logits = logits[:, -1, :].astype(np.float32)
        if len(self.eos_ids) > 1:
            first, rest = self.eos_ids[0], self.eos_ids[1:]
            logits[:, first] = logits[:, self.eos_ids].max(axis=1)
            logits[:, rest] = -np.inf
        return logits

    def reorder(self, beam_indices: np.ndarray) -> None:
        if self.cache_device:  # through the host: no device gather without torch/cupy; greedy never reorders
            self.past = [ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(v.numpy()[beam_indices]),
                                                          self.cache_device, 0) for v in self.past]
        else:
            self.past = [p[beam_indices] for p in self.past]
