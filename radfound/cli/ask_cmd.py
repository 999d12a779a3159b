"""``radfound ask PATH... "QUESTION"``: answer a question about a study (a preliminary AI answer)."""

from __future__ import annotations

import json

from radfound.cli.generation_args import add_model_args, add_study_args, generation_kwargs, load, read
from radfound.cli.generation_args import start_stream, timing_line, warn_after_run
from radfound.config import PRELIMINARY_NOTICE
from radfound.outputs.text import answer_notes, answer_text, study_record


def register(sub) -> None:
    p = sub.add_parser("ask", help="answer a question about a study (English or Chinese)",
                       description=f"Answer a question about a study. {PRELIMINARY_NOTICE}")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files, DICOM files or a DICOM folder")
    p.add_argument("question", help="the question, e.g. \"Is there a pleural effusion?\"")
    add_study_args(p)
    add_model_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (answer, model, provider, timings)")
    p.add_argument("--stream", action="store_true", help="print the answer as it is generated")
    p.add_argument("--free-text", action="store_true",
                   help="answer a closed question in free text instead of choosing Yes/No or an offered option")
    p.set_defaults(func=run)


def run(args) -> int:
    from radfound.tasks.vqa import answer_question

    study = read(args)
    model = load(args)
    on_text = start_stream(args)
    seen = len(study.warnings)
    answer = answer_question(model, study, args.question, on_text=on_text, closed=not args.free_text,
                             **generation_kwargs(args))
    warn_after_run(args, study, seen, answer, "answer")
    if args.json:
        # "study" as in `report --json`; "warnings" (the same list) kept at the top level for older scripts
        record = {**answer.to_json(), "study": study_record(study), "warnings": list(study.warnings)}
        print(json.dumps(record, indent=2, ensure_ascii=False))
        return 0
    if on_text:  # the answer is on screen already: add its notes
        print(f"{answer_notes(answer)}\n")
    else:
        print(f"{PRELIMINARY_NOTICE}\n\nQ: {answer.question}\nA: {answer_text(answer)}\n")
    print(timing_line(model, answer.timings))
    return 0
