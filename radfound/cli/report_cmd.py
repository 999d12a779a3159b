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
    p.add_argument("--prior", action="append", metavar="PATH",
                   help="the patient's prior study of the same kind (repeat for several files): the draft gets a "
                        "Comparison section, each finding new / unchanged / resolved / larger / smaller")
    p.set_defaults(func=run)


def run(args) -> int:
    from radfound.outputs.text import draft_json, draft_text

    from radfound.errors import ConfigError

    study = read(args)
    prior = None
    if args.prior:
        from radfound.study.reader import read_study

        prior = read_study(args.prior if len(args.prior) > 1 else args.prior[0], kind=args.kind)
        if prior.kind != study.kind:
            raise ConfigError(f"the prior is a {prior.kind} study and the current one a {study.kind} study: "
                              "compare studies of the same kind (--kind says what images are when the files cannot)")
    headers, prior_headers = None, ()
    if args.sr:  # refuse before the model runs: a draft that cannot be written is work lost
        from radfound.outputs.atomic import check_writable_file
        from radfound.outputs.sr import read_source_headers

        check_writable_file(args.sr)
        headers = read_source_headers(study)
        if prior is not None:
            prior_headers = read_source_headers(prior)  # the SR's evidence names the prior's images too
    from radfound.tasks.report import draft_report

    model = load(args)
    on_text = start_stream(args)
    seen = len(study.warnings)
    draft = draft_report(model, study, on_text=on_text, **generation_kwargs(args))
    warn_after_run(args, study, seen, draft, "draft")
    if prior is not None:
        from radfound.tasks.compare import compare_drafts, comparison_text

        changes = compare_drafts(draft, draft_report(model, prior, **generation_kwargs(args)), study.kind)
        draft.comparison = comparison_text(_prior_name(prior, args.prior), changes)
        draft.changes = [c.to_json() for c in changes]
        if on_text:
            print(f"\n\nCOMPARISON:\n{draft.comparison}", end="")
    sr_uid = None
    if args.sr:
        from radfound.outputs.sr import write_sr

        path = write_sr(draft, study, args.sr, headers=headers, prior_headers=prior_headers)
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


def _prior_name(prior, paths: list[str]) -> str:
    """How the Comparison line names the prior: its kind and file (RadFound reads no dates, as no patient data)."""
    from pathlib import Path

    what = {"cxr": "chest radiograph", "mammo": "mammogram", "ct": "CT"}.get(prior.kind, "study")
    return f"{what} {Path(paths[0]).name}"
