"""``radfound batch``: draft every study of a DICOM folder tree or a DICOMweb query, resumably.

Credentials never come from the command line: see ``radfound.pacs.settings``
(RADFOUND_DICOMWEB_USER / _PASSWORD / _TOKEN or the DICOMweb config file).
"""

from __future__ import annotations

import logging

from radfound.cli.generation_args import add_model_args, generation_kwargs
from radfound.config import PRELIMINARY_NOTICE


def register(sub) -> None:
    p = sub.add_parser(
        "batch", help="draft reports for many studies (folder or DICOMweb), resumable",
        description="Draft Findings/Impression for every study of a DICOM folder tree or a DICOMweb query; "
        "writes <StudyUID>.sr.dcm/.txt/.json per study and a journal so a re-run skips finished studies. "
        f"{PRELIMINARY_NOTICE}")
    src = p.add_argument_group("source (one of)")
    src.add_argument("--input", metavar="DIR", help="folder tree of DICOM files")
    src.add_argument("--server", metavar="URL", help="DICOMweb base URL (default: RADFOUND_DICOMWEB_URL or the "
                     "config file); credentials come from the environment or the config file, never from here")
    q = p.add_argument_group("query (with --server)")
    q.add_argument("--since", metavar="DATE", help="studies on or after this date (YYYY-MM-DD)")
    q.add_argument("--until", metavar="DATE", help="studies on or before this date (YYYY-MM-DD)")
    q.add_argument("--modality", metavar="CODE", help="modality in study, e.g. CR, DX, MG, CT")
    q.add_argument("--accession", metavar="N", help="one accession number")
    p.add_argument("--out", metavar="DIR", required=True, help="output folder (also holds the journal)")
    p.add_argument("--store", action="store_true", help="STOW-RS each SR back to the DICOMweb server")
    p.add_argument("--workers", type=int, default=2,
                   help="local: studies in flight at once; ray: worker actors, each with its own model (default 2)")
    p.add_argument("--stop-after-pacs-failures", type=int, default=5, metavar="N",
                   help="stop (leaving the rest pending) after N studies in a row fail on the PACS; 0: never")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--compare-prior", action="store_true",
                   help="each draft gets a Comparison with the same patient's latest earlier study of the same "
                        "modality (found with QIDO-RS on the server, or in the input folder)")
    p.add_argument("--index", action="store_true",
                   help="also add every drafted study to your similar-case index (radfound similar)")
    r = p.add_argument_group("scale-out on a Ray cluster (pip install 'radfound[ray]'; docs/scale-out.md)")
    r.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: this machine (default); ray: worker actors on a Ray cluster")
    r.add_argument("--address", metavar="ADDR", help="the Ray cluster, e.g. 10.0.0.5:6379 or auto (default: start a "
                   "local Ray for this run)")
    r.add_argument("--cpus-per-worker", type=float, default=1.0, metavar="N",
                   help="Ray CPUs per worker, also its ONNX Runtime threads (default 1)")
    r.add_argument("--gpus-per-worker", type=float, default=None, metavar="N",
                   help="Ray GPUs per worker (default: 1, or a share, when the cluster has GPUs; 0: CPU only)")
    r.add_argument("--retries", type=int, default=2, metavar="N",
                   help="more attempts for a study whose worker died or whose PACS was down (default 2)")
    add_model_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from radfound.errors import ConfigError
    from radfound.pacs.batch import EngineDrafter, FolderSource, ServerSource, run_batch
    from radfound.pacs.dicomweb import DicomWebClient

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # dicomweb-client's retry decorator logs a traceback per failed request; radfound.pacs logs one line
    logging.getLogger("retrying").setLevel(logging.ERROR)
    logging.getLogger("pydicom").setLevel(logging.ERROR)  # file-level problems surface as RadFound's own lines
    query = any((args.since, args.until, args.modality, args.accession))
    if args.input and query:
        raise ConfigError("--since/--until/--modality/--accession query a server; they do not apply to --input")
    if not args.input and not query:
        raise ConfigError("give --since/--until, --modality or --accession to limit the query "
                          "(a hospital PACS holds every study ever done there)")
    _check_dates(args.since, args.until)
    if args.engine != "ray" and (args.address or args.cpus_per_worker != 1.0 or args.gpus_per_worker is not None):
        raise ConfigError("--address, --cpus-per-worker and --gpus-per-worker need --engine ray")
    if args.engine == "ray" and args.index:
        raise ConfigError("--index writes your local similar-case index and does not run on Ray workers; "
                          "run the batch without --index, or with --engine local")
    client = None
    if args.server or not args.input or args.store:  # only then is a server contacted at all
        client = DicomWebClient.from_config(args.server)
    if args.input:
        source = FolderSource(args.input, exclude=[args.out])
    else:
        source = ServerSource(client, since=args.since, until=args.until, modality=args.modality,
                              accession=args.accession)
    common = dict(store=client if args.store else None, progress=not args.no_progress,
                  stop_after_pacs_failures=args.stop_after_pacs_failures or None, compare_prior=args.compare_prior)
    if args.engine == "ray":
        from radfound.pacs.ray_batch import RayOptions, run_batch_ray

        options = RayOptions(address=args.address, workers=args.workers, cpus_per_worker=args.cpus_per_worker,
                             gpus_per_worker=args.gpus_per_worker, retries=args.retries)
        summary = run_batch_ray(source, args.out, model=args.model, device=args.device, precision=args.precision,
                                options=options, **common, **generation_kwargs(args))
    else:
        drafter = EngineDrafter(args.model, device=args.device, precision=args.precision, index=args.index,
                                **generation_kwargs(args))
        summary = run_batch(source, args.out, drafter, workers=args.workers, **common)
    print(summary)
    if not summary.total and not summary.not_attempted:
        print(f"no studies matched the query on {source.describe()}")
    for key, reason in summary.failures:
        print(f"failed: {key}: {reason}")
    return 1 if summary.failed else 0


def _check_dates(since: str | None, until: str | None) -> None:
    """Refuse a bad --since/--until now, naming the option, before any server is asked or folder made."""
    from radfound.errors import ConfigError
    from radfound.pacs.dicomweb import dicom_date

    dates = {}
    for option, value in (("--since", since), ("--until", until)):
        try:
            dates[option] = dicom_date(value)
        except ConfigError as exc:
            raise ConfigError(f"{option}: {exc.problem}") from None
    if dates["--since"] and dates["--until"] and dates["--since"] > dates["--until"]:
        raise ConfigError(f"--since {since} is after --until {until}: no study can match")
