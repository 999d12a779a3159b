"""``radfound similar PATH... [-k 5] [--add] [--report FILE]``: the most similar studies in your own index.

The index (radfound.similar.index) holds studies you added: with ``--add`` here, with ``radfound batch
--index``, or by saving a draft in RadFound Report. Each match shows its distance (1 - cosine similarity of the
vision encoder's pooled features), its source and the first line of the report saved for it. Nothing leaves
the machine.
"""

from __future__ import annotations

import json
from pathlib import Path

from radfound.cli.generation_args import add_model_args, add_study_args, load, read


def register(sub) -> None:
    p = sub.add_parser("similar", help="find similar cases among your own indexed studies (and add studies)",
                       description="Find the studies in your local similar-case index that look most like this one.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files, DICOM files or a DICOM folder")
    p.add_argument("-k", type=int, default=5, help="how many similar cases (default 5)")
    p.add_argument("--add", action="store_true", help="also add this study to the index (after searching)")
    p.add_argument("--report", type=Path, metavar="FILE",
                   help="with --add: the report text saved for this study (a .txt, e.g. from radfound report)")
    p.add_argument("--index", type=Path, metavar="DIR",
                   help="index root folder (default: RADFOUND_SIMILAR_DIR, else RadFound's user data folder)")
    add_study_args(p)
    add_model_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    from radfound.errors import ConfigError, StudyReadError
    from radfound.similar.cases import find_similar, index_study
    from radfound.similar.index import CaseIndex

    if args.k < 1:
        raise ConfigError(f"-k must be at least 1, not {args.k}")
    if args.report is not None and not args.add:
        raise ConfigError("--report needs --add (it is the report saved with the study you add)")
    report = ""
    if args.report is not None:
        try:
            report = args.report.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise StudyReadError(f"cannot read the report ({exc})", args.report) from None
    study = read(args)
    model = load(args)
    index = CaseIndex.for_model(model, args.index)
    encoded = model.encode(study)
    matches = find_similar(model, study, args.k, encoded=encoded, index=index)
    added = index_study(model, study, encoded=encoded, report=report, edited=bool(report), index=index) \
        if args.add else None
    if args.json:
        print(json.dumps({
            "model": index.model, "index": str(index.folder), "cases_in_index": len(index),
            "added": added.key if added else None,
            "matches": [{"key": m.case.key, "distance": m.distance, "kind": m.case.kind, "source": m.case.source,
                         "report": m.case.report, "edited": m.case.edited,
                         "thumbnail": str(m.thumbnail) if m.thumbnail else None} for m in matches],
        }, indent=2, ensure_ascii=False))
        return 0
    if not matches:
        print(f"no similar cases: the index of {index.model} ({index.folder}) has no other study yet"
              + (" (this one was added)" if added else "; add studies with --add or radfound batch --index"))
    for n, m in enumerate(matches, 1):
        first = next((line.strip() for line in m.case.report.splitlines() if line.strip()), "(no report saved)")
        who = "radiologist's report" if m.case.edited else "draft"
        print(f"{n}. distance {m.distance:.3f}  {m.case.kind}  {m.case.source or m.case.key}\n   {who}: {first}")
    if added:
        print(f"added to the index ({len(index)} studies): {added.key}")
    return 0
