"""``radfound models list | import PATH | verify [NAME] | remove NAME | refresh-index``."""

from __future__ import annotations

import json

from radfound.config import models_store_dir
from radfound.registry.store import human_size


def _print_table(entries) -> None:
    rows = [("NAME", "FAMILY", "VERSION", "SIZE", "SOURCE", "STATUS")]
    rows += [(e.name + (" *" if e.default else ""), e.family, e.version or "-", human_size(e.size), e.source, e.status)
             for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[5])


def _list(args) -> int:
    from radfound.registry import list_models

    entries = list_models(verify="full" if args.verify else "sizes")
    if args.json:
        print(json.dumps([e.to_json() for e in entries], indent=2))
    elif entries:
        _print_table(entries)
        if any(e.default for e in entries):
            print("* the default model (used when no --model is given)")
    else:
        print(f"no models installed (user store: {models_store_dir()})")
    return 0 if all(e.verified is not False for e in entries) else 1


def _import(args) -> int:
    from radfound.registry import import_model

    entry = import_model(args.path, name=args.name, create_manifest=args.create_manifest, licence=args.licence)
    print(f"imported {entry.name} ({entry.family}, {human_size(entry.size)}, every sha256 verified) into {entry.path}")
    return 0


def _verify(args) -> int:
    from radfound.registry import list_models, verify_model

    entries = [verify_model(args.name)] if args.name else list_models(verify="full")
    for e in entries:
        print(f"{e.name}: {e.status}")
    return 0 if entries and all(e.verified for e in entries) else 1


def _remove(args) -> int:
    from radfound.registry import remove_model

    print(f"removed {args.name} from {remove_model(args.name).parent}")
    return 0


def _refresh_index(args) -> int:
    from radfound.registry.index import INDEX_PATH, refresh_index

    entries = refresh_index()
    print(f"wrote {INDEX_PATH} ({len(entries)} model(s): {', '.join(e['name'] for e in entries)})")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "models",
        help="list, import, verify and remove models",
        description="Manage models: shipped ones and those imported into the per-user store "
        "(RADFOUND_MODELS overrides its location). Every file is checked against its manifest's sha256.",
    )
    sub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    q = sub.add_parser("list", help="installed models with family, size and integrity status")
    q.add_argument("--verify", action="store_true", help="check every sha256 (slow for large models)")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(func=_list)

    q = sub.add_parser("import", help="install a model folder or .zip into the user store")
    q.add_argument("path", help="model folder or .zip archive")
    q.add_argument("--name", help="name to install it under (default: the manifest's name)")
    q.add_argument(
        "--create-manifest",
        action="store_true",
        help="the folder has no manifest.json (e.g. an onnx-community download): hash its files now",
    )
    q.add_argument("--licence", help="licence to record when creating a manifest")
    q.set_defaults(func=_import)

    q = sub.add_parser("verify", help="check every file's sha256 against the manifest")
    q.add_argument("name", nargs="?", help="model name (default: all installed models)")
    q.set_defaults(func=_verify)

    q = sub.add_parser("remove", help="delete an imported model from the user store")
    q.add_argument("name")
    q.set_defaults(func=_remove)

    q = sub.add_parser("refresh-index", help="rewrite Resources/models.json from the shipped models' manifests")
    q.set_defaults(func=_refresh_index)

