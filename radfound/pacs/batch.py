"""Draft many studies in one go: from a DICOM folder tree or a DICOMweb server, resumable and bounded.

``run_batch(source, out_dir, drafter)`` is the whole feature; ``radfound batch``
and Slicer's Python console both call it. Per study: retrieve (server sources),
read the Study, draft, write ``<StudyUID>.sr.dcm`` / ``.txt`` / ``.json`` into
``out_dir`` (temp file + rename), optionally STOW-RS the SR back, with every step
recorded in ``out_dir/radfound-batch.sqlite`` (see ``radfound.pacs.journal``).

A failing study is recorded with its reason and the batch goes on. ``workers``
threads overlap I/O (retrieve, decode, write, store); the model itself runs one
study at a time (its ONNX Runtime sessions already use every core).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from tqdm import tqdm

from radfound.errors import ConfigError, OutputError, PacsUnavailable, RadFoundError, StudyReadError
from radfound.outputs.atomic import remove_stale_parts
from radfound.outputs.sr import read_source_headers, write_sr
from radfound.outputs.text import write_json, write_text
from radfound.pacs.dicomweb import DicomWebClient
from radfound.pacs.journal import Journal
from radfound.study.dicom import read_dataset
from radfound.study.model import Study
from radfound.tasks.results import Draft

log = logging.getLogger(__name__)

JOURNAL_NAME = "radfound-batch.sqlite"
RETRIEVED_DIR = ".retrieved"
#: Where a study's time goes; "wait_model" is time spent queued for the model behind other workers.
STAGES = ("retrieve", "decode", "encode", "generate", "wait_model", "write", "store")

Drafter = Callable[[Study], Draft]
Reader = Callable[[list[Path]], Study]


#: Modalities of objects that are not images to draft from (reports, key objects, states, documents...).
NON_IMAGE_MODALITIES = frozenset({"SR", "KO", "PR", "DOC", "REG", "RTSTRUCT", "RTPLAN", "RTRECORD", "AU", "ECG",
                                  "PLAN", "FID"})


# -- sources -----------------------------------------------------------------------------------------
def _header(path: Path) -> tuple[pydicom.Dataset | None, str]:
    """The file's header and "" when it parses as DICOM, else None and why not. Parsed by the study reader
    (large values deferred), so a file the batch lists is one the study reader accepts, and the reason for a
    skipped file is the same one a single-study read would give."""
    try:
        return read_dataset(path, pixels=False), ""
    except StudyReadError as exc:
        return None, exc.problem


class FolderSource:
    """Every DICOM image under ``root``, grouped by Study Instance UID (SRs, DICOMDIRs, non-DICOM skipped).

    A folder with no DICOM image at all is an error (StudyReadError naming it and what was skipped), not an
    empty batch: a mistyped ``--input`` must not look like a quiet night."""

    def __init__(self, root: str | Path, *, exclude: Iterable[Path] = ()):
        self.root = Path(root)
        if not self.root.exists():
            raise ConfigError("input folder does not exist", self.root)
        if not self.root.is_dir():
            raise ConfigError("is a file; --input takes a folder of DICOM files", self.root)
        self.exclude = [Path(p).resolve() for p in exclude]
        self._studies: dict[str, list[Path]] | None = None
        self.skipped: list[tuple[Path, str]] = []  # files under root that are not DICOM images, and why
        self._context: dict[str, tuple[str, str, str]] = {}  # study -> (PatientID, StudyDate, Modality): priors only
        self._reports: dict[str, list[pydicom.Dataset]] = {}  # study -> its SR headers (a prior's reports)

    def _scan(self) -> dict[str, list[Path]]:
        studies: dict[str, list[Path]] = {}
        self.skipped = []
        for path in sorted(self.root.rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            if any(path.resolve().is_relative_to(ex) for ex in self.exclude):
                continue
            ds, why = _header(path)
            if ds is None:
                self.skipped.append((path, why))
                continue
            if str(ds.get("Modality", "")) == "SR" and "StudyInstanceUID" in ds:  # a report: a prior's predecessor
                self._reports.setdefault(str(ds.StudyInstanceUID), []).append(ds)
            if "Rows" not in ds or "StudyInstanceUID" not in ds:  # not an image (SR, KO, PR, DICOMDIR)
                self.skipped.append((path, "DICOM but not an image (e.g. SR, DICOMDIR)"))
                continue
            studies.setdefault(str(ds.StudyInstanceUID), []).append(path)
            self._context.setdefault(str(ds.StudyInstanceUID), (str(ds.get("PatientID", "")),
                                                                 str(ds.get("StudyDate", "")),
                                                                 str(ds.get("Modality", "")).upper()))
        return studies

    def study_keys(self) -> list[str]:
        if self._studies is None:
            self._studies = self._scan()
            log.info("folder source: %d studies", len(self._studies))
            if self.skipped:
                path, why = self.skipped[0]
                log.warning("skipped %d files under %s that are not DICOM images (first: %s: %s)",
                            len(self.skipped), self.root, path, why)
            if not self._studies:
                detail = f"; skipped {len(self.skipped)} files (first: {self.skipped[0][0]}: {self.skipped[0][1]})" \
                    if self.skipped else ""
                raise StudyReadError(f"no DICOM images found{detail}", self.root)
        return sorted(self._studies)

    def fetch(self, key: str, workdir: Path) -> list[Path]:
        return list((self._studies or {})[key])

    def prior_of(self, key: str) -> tuple[str, str] | None:
        """(study UID, StudyDate) of the same patient's latest earlier study of the same modality here, or None."""
        patient, date, modality = self._context.get(key, ("", "", ""))
        if not patient or not date:
            return None
        earlier = [(d, k) for k, (p, d, m) in self._context.items()
                   if k != key and p == patient and m == modality and d and d < date]
        return max(earlier)[::-1] if earlier else None

    def prior_reports(self, key: str) -> list[pydicom.Dataset]:
        """The SRs of study ``key`` in this folder (headers)."""
        return list(self._reports.get(key, []))

    def describe(self) -> str:
        return str(self.root)


@dataclass
class ServerSource:
    """Studies a QIDO-RS query finds on a DICOMweb server, retrieved with WADO-RS when their turn comes."""

    client: DicomWebClient
    since: str | None = None
    until: str | None = None
    modality: str | None = None
    accession: str | None = None

    def study_keys(self) -> list[str]:
        hits = self.client.search_studies(since=self.since, until=self.until, modality=self.modality,
                                          accession=self.accession)
        # A study holding only reports and other non-image objects (QIDO's ModalitiesInStudy) has nothing to
        # draft from: left out, not failed, so one such study does not make every nightly run exit 1.
        imageless = {h.study_uid for h in hits if h.modalities and set(h.modalities) <= NON_IMAGE_MODALITIES}
        if imageless:
            log.info("server source: %d studies hold no images (only %s): skipped", len(imageless),
                     "/".join(sorted(NON_IMAGE_MODALITIES)))
        return sorted({h.study_uid for h in hits} - imageless)

    def fetch(self, key: str, workdir: Path) -> list[Path]:
        shutil.rmtree(workdir, ignore_errors=True)
        return self.client.retrieve_study(key, workdir, images_only=True)

    def prior_of(self, key: str) -> tuple[str, str] | None:
        """(study UID, StudyDate) of the same patient's latest earlier study sharing a modality on the server
        (QIDO-RS), or None."""
        priors = self.client.prior_studies(key)
        return (priors[0].study_uid, priors[0].study_date) if priors else None

    def prior_reports(self, key: str) -> list[pydicom.Dataset]:
        """The SRs of study ``key`` on the server (QIDO-RS instance attributes: enough to reference them)."""
        found = []
        for item in self.client.search_instances(key, modality="SR"):
            ds = pydicom.Dataset.from_json(item)
            if all(a in ds for a in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")):
                found.append(ds)
        return found

    def describe(self) -> str:
        return self.client.settings.url


# -- the default drafter: the real engine -----------------------------------------------------------
class EngineDrafter:
    """``drafter(study) -> Draft`` with the RadFound engine; records encode and generate time separately."""

    def __init__(self, model_dir: str | Path | None = None, device: str = "auto", precision: str = "auto", *,
                 index: bool = False, index_root: str | Path | None = None, **gen):
        from radfound.engine import load_model

        self.model = load_model(model_dir, device=device, precision=precision)
        self.gen = gen
        self._lock = threading.Lock()  # one study at a time through the model
        self.index = None  # with index=True every drafted study joins the similar-case index (radfound.similar)
        if index:
            from radfound.similar.index import CaseIndex

            self.index = CaseIndex.for_model(self.model, Path(index_root) if index_root else None)

    def __call__(self, study: Study, prior: Study | None = None, *, compare: bool = False,
                 prior_name: str = "prior study") -> Draft:
        """The draft of ``study``; with ``compare`` a Comparison with ``prior`` (None: no prior available)."""
        from radfound.tasks.report import draft_report

        with self._lock:
            t0 = time.perf_counter()
            encoded = self.model.encode(study)
            t1 = time.perf_counter()
            draft = draft_report(self.model, encoded, **self.gen)
            t2 = time.perf_counter()
            if compare:
                from radfound.tasks.compare import compare_drafts, comparison_text

                changes = [] if prior is None else compare_drafts(draft, draft_report(self.model, prior, **self.gen),
                                                                  study.kind)
                draft.comparison = comparison_text(None if prior is None else prior_name, changes)
                draft.changes = [c.to_json() for c in changes]
                t2 = time.perf_counter()
            if self.index is not None:  # keyed by study: a re-run replaces the case, so it is indexed once
                from radfound.similar.cases import index_study

                index_study(self.model, study, encoded=encoded, index=self.index,
                            report=f"FINDINGS: {draft.findings}\nIMPRESSION: {draft.impression}")
        draft.timings.encode_ms = (t1 - t0) * 1000
        draft.timings.total_ms = (t2 - t0) * 1000
        return draft


def default_reader(paths: list[Path]) -> Study:
    from radfound.study.reader import read_study

    return read_study(paths)


# -- the batch ---------------------------------------------------------------------------------------
@dataclass
class BatchSummary:
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0  # already done by an earlier run
    not_attempted: int = 0  # left pending because the batch stopped early (PACS unreachable)
    stopped: str | None = None  # why the batch stopped early
    failures: list[tuple[str, str]] = field(default_factory=list)  # (study UID, reason)
    seconds: float = 0.0
    startup_seconds: float = 0.0  # of ``seconds``: before the first study could start (Ray: placing, loading models)
    stage_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    @property
    def total(self) -> int:
        return self.succeeded + self.failed + self.skipped

    def __str__(self) -> str:
        rate = self.succeeded / self.seconds * 60 if self.seconds > 0 else 0.0
        text = (f"{self.succeeded} succeeded, {self.failed} failed, {self.skipped} skipped (already done) "
                f"in {self.seconds:.1f} s ({rate:.1f} studies/min)")
        if self.stopped:
            text += f"; stopped early: {self.stopped}; {self.not_attempted} studies left pending (re-run to resume)"
        return text


def output_paths(out_dir: Path, key: str) -> dict[str, Path]:
    return {"sr": out_dir / f"{key}.sr.dcm", "txt": out_dir / f"{key}.txt", "json": out_dir / f"{key}.json"}


def run_batch(
    source: FolderSource | ServerSource | str | Path,
    out_dir: str | Path,
    drafter: Drafter | None = None,
    *,
    store: DicomWebClient | None = None,
    workers: int = 2,
    reader: Reader | None = None,
    progress: bool = True,
    model_dir: str | Path | None = None,
    stop_after_pacs_failures: int | None = 5,
    compare_prior: bool = False,
) -> BatchSummary:
    """Draft every study of ``source`` into ``out_dir``; ``store`` STOW-RSes each SR to that server.

    ``source`` is a folder (or FolderSource) or a ServerSource. ``drafter`` defaults
    to the engine with ``model_dir``. Re-running with the same ``out_dir`` skips the
    studies already done and resumes the rest. After ``stop_after_pacs_failures``
    studies in a row fail with PacsUnavailable (each after its own retries) the PACS is
    taken to be down: the batch stops and leaves the remaining studies pending
    instead of waiting out every study's backoff (None: never stop). ``compare_prior``: each draft gets a
    Comparison with the same patient's latest earlier study of the same modality in ``source`` (found by
    ``source.prior_of``: QIDO-RS on a server), retrieved beside the study and deleted with it.
    """
    out = Path(out_dir)
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1 (got {workers})")
    if isinstance(source, (str, Path)):
        source = FolderSource(source, exclude=[out])
    started = time.perf_counter()
    keys = source.study_keys()  # before anything is created: bad input leaves no output folder behind
    _make_output_folder(out)
    reader = reader or default_reader
    summary = BatchSummary()
    with Journal(out / JOURNAL_NAME) as journal:
        journal.add(keys)
        _sweep_killed_run(out, keys)
        done_before = {r.key for r in journal.rows(keys) if r.state == "done"}
        todo = [k for k in keys if k not in done_before]
        summary.skipped = len(keys) - len(todo)
        if todo and drafter is None:
            drafter = EngineDrafter(model_dir)
        log.info("batch from %s: %d studies, %d already done", source.describe(), len(keys), summary.skipped)
        bar = tqdm(total=len(todo), unit="study", disable=not progress, dynamic_ncols=True, desc="drafting")
        lock = threading.Lock()
        pacs_failures_in_a_row = [0]

        def work(key: str) -> None:
            if summary.stopped:
                with lock:
                    summary.not_attempted += 1
                return
            try:
                stages = _process(key, source, out, journal, drafter, reader, store, compare_prior)
            except Exception as exc:  # recorded with its reason; the batch goes on
                reason = str(exc) if isinstance(exc, RadFoundError) else f"{type(exc).__name__}: {exc}"
                journal.fail(key, reason)
                log.warning("study %s failed: %s", key, reason)
                log.debug("study %s traceback", key, exc_info=True)
                with lock:
                    summary.failed += 1
                    summary.failures.append((key, reason))
                    # Only an outage counts: a study the server refuses (no images in it, HTTP 4xx) is that study's.
                    pacs_failures_in_a_row[0] = pacs_failures_in_a_row[0] + 1 if isinstance(exc, PacsUnavailable) else 0
                    if stop_after_pacs_failures and pacs_failures_in_a_row[0] >= stop_after_pacs_failures:
                        summary.stopped = summary.stopped or (
                            f"{pacs_failures_in_a_row[0]} studies in a row failed on the PACS (last: {reason})")
            else:
                with lock:
                    pacs_failures_in_a_row[0] = 0
                    summary.succeeded += 1
                    for stage, secs in stages.items():
                        summary.stage_seconds[stage] = summary.stage_seconds.get(stage, 0.0) + secs
            with lock:
                bar.update(1)
                bar.set_postfix(ok=summary.succeeded, failed=summary.failed, refresh=False)

        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="radfound-batch")
        try:
            pending: set[Future] = set()
            queue = iter(todo)
            for key in queue:  # keep at most 2 x workers submitted: bounded memory for huge batches
                if summary.stopped:
                    summary.not_attempted += 1
                    continue
                pending.add(pool.submit(work, key))
                if len(pending) >= 2 * workers:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in finished:
                        f.result()
            for f in pending:
                f.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            shutil.rmtree(out / RETRIEVED_DIR, ignore_errors=True)  # every worker has ended: nothing in use
            bar.close()
    if summary.stopped:
        log.error("batch stopped early: %s", summary.stopped)
    summary.seconds = time.perf_counter() - started
    log.info("batch summary: %s", summary)
    return summary


def _make_output_folder(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError("is a file; --out takes a folder", out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder: {exc.strerror or exc}", out) from exc
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError("the output folder is not writable", out)


def _sweep_killed_run(out: Path, keys: list[str]) -> None:
    """Remove what a previous run killed mid-study left: temp ``.part`` files and retrieved images.

    Safe because this run holds the journal's lock, so no other batch writes into ``out``.
    Retrieved images hold patient data, so they must not outlive the run that fetched them.
    """
    removed = sum(remove_stale_parts(p) for key in keys for p in output_paths(out, key).values())
    retrieved = out / RETRIEVED_DIR
    if retrieved.exists():
        shutil.rmtree(retrieved, ignore_errors=True)
        removed += 1
    if removed:
        log.info("removed %d leftovers of an interrupted run from %s", removed, out)


def _process(key: str, source, out: Path, journal: Journal, drafter: Drafter, reader: Reader,
             store: DicomWebClient | None, compare_prior: bool = False) -> dict[str, float]:
    """One study through every step; returns seconds per stage. Raises on failure (caller records it)."""
    previous = journal.claim(key)
    if previous is None:
        return {}
    paths = output_paths(out, key)
    timings: dict[str, float] = {}
    if previous != "written" or not paths["sr"].exists():
        workdir = out / RETRIEVED_DIR / key
        try:
            sr_uid = draft_and_write(key, source, workdir, paths, drafter, reader, timings, compare_prior)
        finally:  # retrieved images hold patient data: never leave them behind, success or not
            shutil.rmtree(workdir, ignore_errors=True)
        journal.written(key, sr_uid, {k: str(v) for k, v in paths.items()}, timings)
    if store is not None:
        t = time.perf_counter()
        store.store([paths["sr"]])
        timings["store"] = time.perf_counter() - t
    journal.done(key, timings if "write" in timings else None)
    return timings


def draft_and_write(key: str, source, workdir: Path, paths: dict[str, Path], drafter: Drafter, reader: Reader,
                    timings: dict[str, float], compare_prior: bool = False) -> str:
    """Fetch, read, draft and write the three outputs of one study; returns the SR's SOP Instance UID.

    Journal-free, so a Ray worker (``radfound.pacs.ray_batch``) runs the very same steps into its own scratch
    folder and leaves the journal and the real outputs to the driver."""
    t = time.perf_counter()
    files = source.fetch(key, workdir)
    found = source.prior_of(key) if compare_prior else None
    prior_files = source.fetch(found[0], workdir / "prior") if found else []
    prior_reports = source.prior_reports(found[0]) if found else []  # referenced as Predecessor Documents
    timings["retrieve"] = time.perf_counter() - t
    t = time.perf_counter()
    study = reader(files)
    prior = reader(prior_files) if prior_files else None
    timings["decode"] = time.perf_counter() - t
    t = time.perf_counter()
    if compare_prior:
        date = found[1] if found else ""
        name = f"study of {date[:4]}-{date[4:6]}-{date[6:]}" if len(date) == 8 else "prior study"
        draft = drafter(study, prior, compare=True, prior_name=name)
    else:
        draft = drafter(study)
    draft_s = time.perf_counter() - t
    model_s = draft.timings.total_ms / 1000  # EngineDrafter: encode + generate, measured inside its lock
    if not 0 < model_s <= draft_s:
        model_s = draft_s
    timings["encode"] = min(draft.timings.encode_ms / 1000, model_s)
    timings["generate"] = model_s - timings["encode"]
    timings["wait_model"] = draft_s - model_s
    t = time.perf_counter()
    try:
        sr = write_sr(draft, study, paths["sr"], prior_headers=read_source_headers(prior) if prior else (),
                      prior_reports=prior_reports)
        sr_uid = str(pydicom.dcmread(sr, stop_before_pixels=True).SOPInstanceUID)
        write_text(draft, paths["txt"], study)
        write_json(draft, paths["json"], study, sr_uid=sr_uid)
    except BaseException:  # a study's outputs are all there or none: a failed study leaves no partial set
        for path in paths.values():
            if path.is_file():
                path.unlink()
        raise
    timings["write"] = time.perf_counter() - t
    return sr_uid
