"""Draft a report for every image in a folder with 3D Slicer, no GUI.

    Slicer --no-main-window --python-script ci/slicer_batch.py --input DIR --output DIR [--model NAME] [--device auto|cuda|cpu]

Runs the same way with slicer-core outside the application (``python ci/slicer_batch.py ...``),
and ``radfound batch`` offers the same without Slicer at all. For each image (a NRRD / NIfTI
file, a single DICOM image, or a DICOM series, grouped by Series Instance UID) the volume is
loaded by Slicer's volumes logic, drafted with ``RadFoundReportLogic().draft(node)``, saved
into the scene (text node, findings table, markups) and written as ``<name>.txt`` (the draft
under the preliminary notice) and ``<name>.json``; the whole scene goes to ``radfound_batch.mrb``
and a ``summary.json`` lists every input with its outcome. A bad input is reported and skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script from a checkout: make ``radfound`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VOLUME_SUFFIXES = (".nrrd", ".nhdr", ".nii", ".nii.gz", ".mha", ".mhd")


def find_inputs(folder: Path) -> list[Path]:
    """One path per image: volume files, and one DICOM file per series (Slicer's reader finds the rest)."""
    import pydicom

    chosen, series_seen = [], set()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name.lower().endswith(VOLUME_SUFFIXES):
            chosen.append(path)
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SeriesInstanceUID", "Rows"])
        except (pydicom.errors.InvalidDicomError, OSError):
            continue
        if "Rows" not in ds:
            continue  # SR, DICOMDIR, presentation states: not images
        uid = str(ds.get("SeriesInstanceUID", path))
        if uid not in series_seen:
            series_seen.add(uid)
            chosen.append(path)
    return chosen


def check_dicom_pixels(path: Path) -> None:
    """Decode the pixels once with pydicom: Slicer's reader silently accepts truncated pixel data."""
    import pydicom

    from radfound.errors import StudyReadError

    try:
        ds = pydicom.dcmread(path)
    except pydicom.errors.InvalidDicomError:
        return  # not DICOM: Slicer's own reader decides
    try:
        ds.pixel_array  # noqa: B018 - decoding is the check
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types for broken pixel data
        raise StudyReadError(f"pixel data cannot be decoded ({exc})", path) from None


def _load(path: Path, core):
    if not path.name.lower().endswith(VOLUME_SUFFIXES):
        check_dicom_pixels(path)
    return core.load_volume(path)


def _safe_name(node, used: set[str]) -> str:
    base = "".join(c if c.isalnum() or c in "-_." else "_" for c in (node.GetName() or "image")) or "image"
    name, n = base, 1
    while name in used:
        n += 1
        name = f"{base}_{n}"
    used.add(name)
    return name


def run_batch(input_dir: str | Path, output_dir: str | Path, *, model: str | None = None, device: str = "auto",
              core=None, **gen) -> dict:
    """Draft every image of ``input_dir`` into ``output_dir``; returns the summary also written as summary.json.

    ``core``: a ``radfound.slicer.core_app.SlicerCore``: ``start_core()`` outside the Slicer application,
    ``application_core()`` (the default) inside it.
    """
    from radfound.errors import RadFoundError, StudyReadError
    from radfound.outputs.atomic import write_text_atomic
    from radfound.outputs.text import write_json, write_text
    from radfound.slicer.report_logic import RadFoundReportLogic

    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if not input_dir.is_dir():
        raise StudyReadError("input folder not found", input_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if core is None:
        from radfound.slicer.core_app import application_core

        core = application_core()
    logic = RadFoundReportLogic(model=model, device=device)
    scene = core.scene
    results, used = [], set()
    for path in find_inputs(input_dir):
        entry = {"input": str(path.relative_to(input_dir))}
        try:
            node = _load(path, core)
            if node is None:
                raise StudyReadError("Slicer could not read this file as a volume", path)
            name = _safe_name(node, used)
            draft = logic.draft(node, **gen)
            logic.save(draft, node, log=False)  # batch drafts are not radiologist edits: no evaluation entry
            study = logic.drafted_study(draft)  # with what the reader and the model noticed
            write_text(draft, output_dir / f"{name}.txt", study)
            write_json(draft, output_dir / f"{name}.json", study)
            entry.update(status="ok", name=name, kind=study.kind, model=draft.model,
                         model_version=draft.model_version, provider=draft.provider,
                         seconds=round(draft.timings.total_ms / 1000, 3), warnings=list(study.warnings))
        except RadFoundError as exc:
            entry.update(status="error", error=str(exc))
        results.append(entry)
        print(f"{entry['input']}: {entry['status']}" + (f" ({entry.get('error')})" if entry["status"] != "ok" else ""),
              flush=True)
    mrb = output_dir / "radfound_batch.mrb"
    scene.SetRootDirectory(str(output_dir))
    if results and not scene.WriteToMRB(str(mrb)):
        raise StudyReadError("Slicer could not write the scene bundle", mrb)
    summary = {"input": str(input_dir), "output": str(output_dir), "scene": mrb.name if results else None,
               "drafted": sum(r["status"] == "ok" for r in results), "failed": sum(r["status"] != "ok" for r in results),
               "items": results}
    write_text_atomic(output_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Draft a RadFound report for every image of a folder (3D Slicer).")
    parser.add_argument("--input", required=True, help="folder of DICOM / NRRD / NIfTI images")
    parser.add_argument("--output", required=True, help="folder for the drafts, summary.json and the .mrb scene")
    parser.add_argument("--model", default=None, help="installed model name or folder (default: the shipped model)")
    parser.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    parser.add_argument("--max-new-tokens", type=int, default=None)
    args = parser.parse_args(argv)
    gen = {"max_new_tokens": args.max_new_tokens} if args.max_new_tokens else {}
    core = None
    try:
        import slicer

        in_application = hasattr(slicer, "app")
    except ImportError:
        in_application = False
    if not in_application:
        from radfound.slicer.core_app import start_core

        core = start_core()
    from radfound.errors import RadFoundError

    try:
        summary = run_batch(args.input, args.output, model=args.model, device=args.device, core=core, **gen)
    except RadFoundError as exc:
        print(f"slicer_batch: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"{summary['drafted']} drafted, {summary['failed']} failed; see {Path(args.output) / 'summary.json'}")
    return 0 if summary["failed"] == 0 else 1


if __name__ == "__main__":
    # Inside Slicer, Slicer's own argv precedes the script's: keep what follows the script path.
    argv = sys.argv[sys.argv.index(__file__) + 1:] if __file__ in sys.argv else sys.argv[1:]
    status = main(argv)
    try:
        import slicer

        if hasattr(slicer, "app"):
            slicer.util.exit(status)
    except ImportError:
        pass
    sys.exit(status)
