"""Execution providers: CUDA when it really works, else CPU; always report the one that runs.

``onnxruntime-gpu`` silently falls back to CPU when CUDA cannot load, so the
provider is read back from the created session (``get_providers()``), never assumed.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import onnxruntime as ort

from radfound.config import ort_threads
from radfound.errors import ModelError, RadFoundError

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
DEVICES = ("auto", "cuda", "cpu")


def cuda_driver_present() -> bool:
    """True when the NVIDIA driver library loads; avoids ORT's noisy CUDA load errors on CPU-only machines."""
    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


def requested_providers(device: str, cuda_graph: bool = False) -> list:
    """Providers to ask ORT for; on CUDA, TF32 off (fp32 graphs then match the CPU within 1e-4) and, with
    ``cuda_graph``, graph capture on (for :class:`radfound.engine.cuda_graph.CudaGraphDecoder`)."""
    if device not in DEVICES:
        raise ModelError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "cpu":
        return [CPU]
    if CUDA in ort.get_available_providers() and cuda_driver_present():
        options = {"device_id": 0, "use_tf32": "0"}
        if cuda_graph:
            options["enable_cuda_graph"] = "1"
        return [(CUDA, options), CPU]
    if device == "cuda":
        raise ModelError(
            "CUDA was requested but is not available (no NVIDIA driver, or onnxruntime without CUDA support); "
            "use --device cpu or auto"
        )
    return [CPU]


def session_options() -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = ort_threads()  # RADFOUND_THREADS; 0 lets ORT use one thread per physical core
    opts.log_severity_level = 3  # errors only: fallback notices are reported through .provider instead
    # No busy-waiting between ops: on a shared 2-core machine (or beside Slicer's UI) spinning threads steal
    # the CPU they wait for; measured 2-3x slower decode under load with spinning on (docs/engine.md).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return opts


def create_session(path: Path, device: str, cuda_graph: bool = False) -> ort.InferenceSession:
    """A session on the best provider for ``device``; raises ModelError if CUDA was demanded but did not start
    (or, with ``cuda_graph``, if ORT cannot capture this graph: the caller then makes a plain session)."""
    providers = requested_providers(device, cuda_graph)
    options = session_options()  # a bad RADFOUND_THREADS is a ConfigError here, not the graph's fault
    try:
        session = ort.InferenceSession(str(path), options, providers=providers)
    except RadFoundError:
        raise
    except Exception as exc:  # ORT raises its own exception types for malformed graphs
        raise ModelError(f"ONNX Runtime cannot load this graph ({type(exc).__name__}: {exc})", path) from None
    if device == "cuda" and session.get_providers()[0] != CUDA:
        raise ModelError("CUDA was requested but ONNX Runtime fell back to CPU for this graph", path)
    return session


def running_provider(session: ort.InferenceSession) -> str:
    return session.get_providers()[0]
