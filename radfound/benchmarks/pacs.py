"""Benchmark: a night's batch against a local PACS. Studies per minute, and where the time goes.

A private Orthanc (``radfound.pacs.orthanc``) is filled with ``--studies`` chest
radiographs (the real 1955x1841 CR ``RG1_UNCR.dcm`` from pydicom-data, cloned with
new UIDs, accession numbers and dates), then ``run_batch`` queries it (QIDO-RS,
modality CR), retrieves each study (WADO-RS), reads it, drafts it with the engine,
writes SR/txt/json and stores the SR back (STOW-RS). Reported: wall time,
studies per minute, and the summed seconds per stage (retrieve, decode, encode,
generate, write, store, plus wait_model: queued behind another worker's model call);
with several workers the stages overlap, so their sum exceeds the wall time. The SR count in the PACS is checked at the end.

Without ``--model`` the shipped default model is used if installed, else a
random-weight model is built (needs torch; ``--random-config tiny|small|base``,
default tiny): its drafting cost is that architecture's (random weights rarely stop
before ``--max-new-tokens``), the PACS/IO numbers are real either way.

    python -m radfound.benchmarks.pacs --studies 200 [--workers 2] [--model DIR | --random-config small] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

from radfound.config import default_model_dir


def _model_dir(arg: str | None, random_config: str | None, scratch: Path) -> tuple[Path, str]:
    if arg:
        return Path(arg), "given"
    if random_config is None and default_model_dir().is_dir():
        return default_model_dir(), "shipped default"
    from radfound.export.onnx_export import export_model  # torch: benchmarks may use it
    from radfound.modeling.checkpoint import build_model

    name = random_config or "tiny"
    model, tokenizer = build_model(name, seed=0)
    return export_model(model, tokenizer, scratch / f"radfound-{name}"), f"random-weight '{name}' architecture"


def run(studies: int, workers: int, model: str | None, max_new_tokens: int, random_config: str | None = None,
        engine: str = "local", ray_address: str | None = None) -> dict:
    """One batch of ``studies`` through a fresh local Orthanc. ``engine="ray"``: ``workers`` Ray actors of 1 CPU
    each (``radfound.pacs.ray_batch``) on ``ray_address``, or on a local Ray started for the run."""
    from pydicom.data import get_testdata_file

    from radfound.pacs.batch import EngineDrafter, ServerSource, run_batch
    from radfound.pacs.dicomweb import DicomWebClient
    from radfound.pacs.orthanc import OrthancServer
    from radfound.pacs.sample_studies import clone_study
    from radfound.pacs.settings import PacsSettings

    source = Path(get_testdata_file("RG1_UNCR.dcm"))
    with tempfile.TemporaryDirectory(prefix="radfound-bench-pacs-") as tmp:
        scratch = Path(tmp)
        model_dir, model_kind = _model_dir(model, random_config, scratch)
        with OrthancServer(scratch / "orthanc") as pacs:
            t = time.perf_counter()
            for i in range(studies):
                (path,) = clone_study([source], scratch / "src", i)
                pacs.upload(path)
                path.unlink()
            load_s = time.perf_counter() - t
            client = DicomWebClient(PacsSettings(pacs.dicomweb_url))
            if engine == "ray":
                from radfound.engine import load_model
                from radfound.pacs.ray_batch import RayOptions, run_batch_ray

                summary = run_batch_ray(ServerSource(client, modality="CR"), scratch / "out", model=model_dir,
                                        store=client, options=RayOptions(address=ray_address, workers=workers),
                                        max_new_tokens=max_new_tokens)
                loaded = load_model(model_dir)  # only for its name in the result
                name, provider = f"{loaded.name} {loaded.version}", "CPU (1 thread per Ray worker)"
            else:
                drafter = EngineDrafter(model_dir, max_new_tokens=max_new_tokens)
                summary = run_batch(ServerSource(client, modality="CR"), scratch / "out", drafter, store=client,
                                    workers=workers, progress=True)
                name, provider = f"{drafter.model.name} {drafter.model.version}", drafter.model.provider
            srs = sum(len(client.search_instances(h.study_uid, modality="SR"))
                      for h in client.search_studies(modality="CR"))
    work = {k: v for k, v in summary.stage_seconds.items() if k != "wait_model"}  # queueing is not work
    stage_total = sum(work.values())
    return {
        "studies": studies,
        "engine": engine,
        "workers": workers,
        "cpu_count": os.cpu_count(),
        "model": f"{name} ({model_kind})",
        "provider": provider,
        "max_new_tokens": max_new_tokens,
        "image": "RG1_UNCR.dcm 1955x1841 CR, uncompressed (pydicom-data), cloned",
        "pacs_load_s": round(load_s, 1),
        "succeeded": summary.succeeded,
        "failed": summary.failed,
        "srs_in_pacs": srs,
        "wall_s": round(summary.seconds, 1),
        "studies_per_min": round(summary.succeeded / summary.seconds * 60, 1) if summary.seconds else 0.0,
        "startup_s": round(summary.startup_seconds, 1),  # Ray: placing the actors and loading their models
        "studies_per_min_after_startup": round(summary.succeeded / (summary.seconds - summary.startup_seconds) * 60, 1)
        if summary.seconds > summary.startup_seconds else 0.0,
        "stage_s_total": {k: round(v, 1) for k, v in summary.stage_seconds.items()},
        "stage_s_per_study": {k: round(v / max(summary.succeeded, 1), 3) for k, v in summary.stage_seconds.items()},
        "stage_share_pct": {k: round(100 * v / stage_total, 1) if stage_total else 0.0 for k, v in work.items()},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--studies", type=int, default=200)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--engine", choices=("local", "ray"), default="local")
    p.add_argument("--address", help="--engine ray: the Ray cluster (default: a local Ray for the run)")
    p.add_argument("--model", metavar="DIR")
    p.add_argument("--random-config", choices=("tiny", "small", "base"),
                   help="build a random-weight model of this architecture (needs torch) instead of --model")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--json", metavar="OUT", help="also write the result to this file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = run(args.studies, args.workers, args.model, args.max_new_tokens, args.random_config, args.engine,
                 args.address)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0 if result["failed"] == 0 and result["srs_in_pacs"] == result["succeeded"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
