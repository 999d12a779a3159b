"""``radfound inspect PATH [PATH ...] [--series-uid UID] [--kind KIND] [--json]``: show what RadFound reads.

Prints the Study: kind, views (view code, shape, spacing), volume shape/spacing/origin,
non-identifying metadata and warnings. ``--json`` prints ``Study.summary()`` (keys
``kind``, ``views``, ``volume`` or null, ``warnings``, ...). Bad input: one line on
stderr and a non-zero exit (handled by ``radfound.cli.main``).
"""

from __future__ import annotations

import json

from radfound.cli.generation_args import add_study_args


def register(sub) -> None:
    p = sub.add_parser("inspect", help="show how a study is read (kind, views, volume, warnings)",
                       description="Read DICOM files/folders, NRRD/NIfTI or PNG/JPEG into one study and describe it.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="DICOM files or folders, an NRRD/NIfTI volume, PNG/JPEG images")
    add_study_args(p)
    p.add_argument("--json", action="store_true", help="print the study summary as JSON")
    p.set_defaults(func=run)


def _mm(values) -> str:
    return " x ".join(f"{float(v):.4g}" for v in values)


def describe(summary: dict) -> str:
    """Human-readable lines for a Study.summary()."""
    lines = [f"kind: {summary['kind']}"]
    meta = summary.get("metadata") or {}
    if meta:
        lines.append("metadata: " + ", ".join(f"{k}={v}" for k, v in sorted(meta.items())))
    for n, view in enumerate(summary["views"], 1):
        side = f", laterality {view['laterality']}" if view.get("laterality") else ""
        lines.append(f"view {n}: {view['view']}, {' x '.join(map(str, view['shape']))} pixels, "
                     f"spacing {_mm(view['spacing'])} mm{side}")
    if summary.get("missing_views"):
        lines.append("missing views: " + ", ".join(summary["missing_views"]))
    vol = summary.get("volume")
    if vol:
        lines.append(f"volume: {' x '.join(map(str, vol['shape']))} (slices x rows x cols), "
                     f"spacing {_mm(vol['spacing'])} mm, origin (LPS) "
                     f"({', '.join(f'{float(v):.4g}' for v in vol['origin'])}) mm")
    lines.append(f"source images: {summary.get('sources', 0)}")
    for warning in summary.get("warnings", []):
        lines.append(f"warning: {warning}")
    return "\n".join(lines)


def run(args) -> int:
    from radfound.cli.generation_args import read

    study = read(args, warn=False)  # the warnings are part of what inspect prints
    summary = study.summary()
    print(json.dumps(summary, indent=2) if args.json else describe(summary))
    return 0
