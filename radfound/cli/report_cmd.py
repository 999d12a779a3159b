"""``radfound report PATH...``: draft Findings and Impression for a study (a preliminary AI draft)."""

from __future__ import annotations

import json
import sys

from radfound.cli.generation_args import add_model_args, add_study_args, generation_kwargs, load, read
from radfound.cli.generation_args import start_stream, timing_line, warn_after_run
from radfound.config import PRELIMINARY_NOTICE


def register(sub) -> None:
    p = sub.add_parser("report", help="draft a report (Findings and Impression) for a study",
                       description=f"Draft Findings and Impression for a study. {PRELIMINARY_NOTICE}")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files, DICOM files or a DICOM folder")
    add_study_args(p)
    add_model_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (report, model, provider, timings)")
    p.add_argument("--stream", action="store_true", help="print the text as it is generated")
    p.add_argument("--sr", metavar="OUT.dcm", help="also write the draft as a DICOM Structured Report")
    p.set_defaults(func=run)


def run(args) -> int:
    from radfound.outputs.text import draft_json, draft_text

    study = read(args)
    headers = None
    if args.sr:  # refuse before the model runs: a draft that cannot be written is work lost
        from radfound.outputs.atomic import check_writable_file
        from radfound.outputs.sr import read_source_headers

        check_writable_file(args.sr)
        headers = read_source_headers(study)
    from radfound.tasks.report import draft_report

    model = load(args)
    on_text = start_stream(args)
    seen = len(study.warnings)
    draft = draft_report(model, study, on_text=on_text, **generation_kwargs(args))
    warn_after_run(args, study, seen, draft, "draft")
    sr_uid = None
    if args.sr:
        from radfound.outputs.sr import write_sr

        path = write_sr(draft, study, args.sr, headers=headers)
        sr_uid = _sop_uid(path)
    if args.json:
        record = draft_json(draft, study, sr_uid=sr_uid)
        print(json.dumps(record, indent=2, ensure_ascii=False))
        return 0
    if on_text:
        print("\n")
        print(timing_line(model, draft.timings))
    else:
        print(draft_text(draft), end="")  # ends with the model line
        print(timing_line(model, draft.timings, with_model=False))
    if args.sr:
        print(f"DICOM SR written to {args.sr}", file=sys.stderr)
    return 0


def _sop_uid(path) -> str | None:
    import pydicom

    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
