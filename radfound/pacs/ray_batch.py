"""The batch on a Ray cluster: studies are tasks, each worker a Ray actor holding one loaded model.

``run_batch_ray(source, out_dir, ...)`` does what :func:`radfound.pacs.batch.run_batch` does, across the
machines of a Ray cluster (``address``) or, without one, on a local Ray started for the run:

- the driver (this process) lists the studies (a folder, or QIDO-RS), holds the journal and alone writes
  ``<StudyUID>.sr.dcm/.txt/.json`` into ``out_dir`` and STOW-RSes the SRs, so the journal's exactly-once
  guarantee (``radfound.pacs.journal``) is the same as for a local batch, whoever dies;
- each worker (:class:`StudyWorker`, ``num_cpus`` / ``num_gpus`` per actor) retrieves its study itself with
  WADO-RS (the study's bytes never pass through the driver), reads and drafts it and sends back the three
  small output files; on a folder source the paths must be readable on every node (a shared file system);
- at most ``in_flight_per_worker`` studies per worker are in flight (back-pressure: a night of studies
  is never queued into the cluster at once);
- a worker that dies (node lost, ``ray.kill``, out of memory) is replaced and its studies go to the next free
  worker; a study whose worker died, or whose PACS was unreachable, is tried at most ``1 + retries`` times;
  a study that is itself bad (unreadable, unsupported) fails at once, with its reason in the journal.

Credentials never travel through Ray: a worker reads them from its own environment or config file
(``radfound.pacs.settings``), so set them on every node. Ray is an optional extra (``radfound[ray]``); nothing
else in RadFound imports it.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from radfound.errors import ConfigError, ModelError, PacsUnavailable, RadFoundError
from radfound.outputs.atomic import write_bytes_atomic
from radfound.pacs.batch import (
    JOURNAL_NAME,
    RETRIEVED_DIR,
    BatchSummary,
    EngineDrafter,
    FolderSource,
    ServerSource,
    _make_output_folder,
    _sweep_killed_run,
    default_reader,
    draft_and_write,
    output_paths,
)
from radfound.pacs.dicomweb import DicomWebClient
from radfound.pacs.journal import Journal
from radfound.pacs.settings import PacsSettings

log = logging.getLogger(__name__)

#: Ray namespace of RadFound's actors; each batch names its workers ``radfound-batch-<run>-<slot>.<generation>``.
RAY_NAMESPACE = "radfound"
WORKER_PREFIX = "radfound-batch-"


@dataclass(frozen=True)
class RayOptions:
    """How the batch uses the cluster. ``address`` None starts a local Ray for the run (``ray.init()``)."""

    address: str | None = None
    workers: int = 2  # actors, each holding one loaded model
    cpus_per_worker: float = 1.0  # Ray CPUs per actor; also its ONNX Runtime threads
    gpus_per_worker: float | None = None  # None: 1 (or a share) when the cluster has GPUs and device is not cpu
    in_flight_per_worker: int = 2  # studies queued at one worker: one drafting, one being retrieved
    retries: int = 2  # more attempts for a study whose worker died or whose PACS was down
    start_timeout_s: float = 600.0  # for the cluster to place and load every worker

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"--workers must be at least 1 (got {self.workers})")
        if self.cpus_per_worker <= 0:
            raise ConfigError(f"--cpus-per-worker must be above 0 (got {self.cpus_per_worker})")
        if self.in_flight_per_worker < 1 or self.retries < 0:
            raise ConfigError("in_flight_per_worker must be at least 1 and retries at least 0")


# -- what a worker gets of the source ----------------------------------------------------------------
@dataclass(frozen=True)
class ServerSpec:
    """A ServerSource without its credentials: a worker rebuilds the client from its own settings."""

    url: str
    verify_tls: bool | str
    timeout_s: float
    retries: int
    backoff_s: float

    @classmethod
    def of(cls, client: DicomWebClient) -> ServerSpec:
        s = client.settings
        return cls(s.url, s.verify_tls, s.timeout_s, s.retries, s.backoff_s)

    def build(self) -> ServerSource:
        settings = PacsSettings.load(self.url, verify_tls=self.verify_tls, timeout_s=self.timeout_s,
                                     retries=self.retries, backoff_s=self.backoff_s)
        return ServerSource(DicomWebClient(settings))


def _portable(source: FolderSource | ServerSource) -> FolderSource | ServerSpec:
    return ServerSpec.of(source.client) if isinstance(source, ServerSource) else source


# -- the worker --------------------------------------------------------------------------------------
class StudyWorker:
    """One Ray actor: a loaded model and the source; ``draft(key)`` returns the study's outputs as bytes.

    Never raises for a study: the result says what went wrong, so the driver can tell a bad study (fail it)
    from a PACS outage (retry it) without relying on exceptions surviving pickling across processes."""

    def __init__(self, source: FolderSource | ServerSpec, model: str | None, device: str, precision: str,
                 threads: int, gen: dict):
        os.environ["RADFOUND_THREADS"] = str(threads)  # read when the ONNX Runtime sessions are made
        self.error = ""
        try:
            self.source = source.build() if isinstance(source, ServerSpec) else source
            self.drafter = EngineDrafter(model, device=device, precision=precision, **gen)
        except Exception as exc:  # reported by info(): the driver stops with this one line
            self.error = str(exc) if isinstance(exc, RadFoundError) else f"{type(exc).__name__}: {exc}"

    def info(self) -> dict:
        import socket

        if self.error:
            return {"error": self.error, "host": socket.gethostname()}
        model = self.drafter.model
        return {"host": socket.gethostname(), "pid": os.getpid(), "provider": model.provider,
                "model": f"{model.name} {model.version}"}

    def draft(self, key: str, compare_prior: bool = False) -> dict:
        if self.error:  # a replacement worker that could not load the model: fail its studies, do not hang
            return {"key": key, "error": f"the Ray worker could not load the model: {self.error}", "outage": False}
        with tempfile.TemporaryDirectory(prefix="radfound-ray-") as tmp:
            scratch = Path(tmp)
            paths = output_paths(scratch, key)
            timings: dict[str, float] = {}
            try:
                sr_uid = draft_and_write(key, self.source, scratch / RETRIEVED_DIR, paths, self.drafter,
                                         default_reader, timings, compare_prior)
            except Exception as exc:
                reason = str(exc) if isinstance(exc, RadFoundError) else f"{type(exc).__name__}: {exc}"
                return {"key": key, "error": reason, "outage": isinstance(exc, PacsUnavailable)}
            return {"key": key, "sr_uid": sr_uid, "timings": timings,
                    "files": {name: path.read_bytes() for name, path in paths.items()}}


def _ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("--engine ray needs Ray: pip install 'radfound[ray]'") from None
    return ray


class _Workers:
    """The batch's actors by slot; a dead one is replaced by a new actor in the same slot.

    A replacement gets studies only once it has loaded its model (``starting``: its ``info()`` call is awaited
    beside the studies); one that cannot load it, or is not placed within ``start_timeout_s`` (its node is gone
    and the rest of the cluster is full), retires its slot, and the batch goes on with the others."""

    def __init__(self, ray, options: RayOptions, args: tuple, run: str, gpus: float):
        self.ray, self.options, self.args, self.run, self.gpus = ray, options, args, run, gpus
        self.cls = ray.remote(StudyWorker)
        self.actors: list = []
        self.generation: list[int] = []
        self.in_flight: list[int] = []
        self.state: list[str] = []  # "ready", "starting" or "retired"
        self.starting: dict = {}  # info() ObjectRef of a replacement -> (slot, generation, started at)
        for slot in range(options.workers):
            self.actors.append(self._new(slot, 0))
            self.generation.append(0)
            self.in_flight.append(0)
            self.state.append("ready")

    def _new(self, slot: int, generation: int):
        return self.cls.options(name=f"{WORKER_PREFIX}{self.run}-{slot}.{generation}", namespace=RAY_NAMESPACE,
                                num_cpus=self.options.cpus_per_worker, num_gpus=self.gpus,
                                max_concurrency=self.options.in_flight_per_worker).remote(*self.args)

    def wait_ready(self) -> list[dict]:
        """Block until every worker has loaded its model; ModelError / ConfigError naming the problem if not."""
        ray = self.ray
        refs = [a.info.remote() for a in self.actors]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=self.options.start_timeout_s)
        if len(ready) < len(refs):
            have = ray.cluster_resources()
            wait_s = self.options.start_timeout_s
            raise ConfigError(f"Ray placed {len(ready)} of {len(refs)} workers within {wait_s:.0f} s; each needs "
                              f"{self.options.cpus_per_worker:g} CPU and {self.gpus:g} GPU, the cluster has "
                              f"{have.get('CPU', 0):g} CPU and {have.get('GPU', 0):g} GPU")
        infos = ray.get(refs)
        for info in infos:
            if "error" in info:
                raise ModelError(f"a Ray worker on {info['host']} could not load the model: {info['error']}")
        return infos

    def free_slot(self) -> int | None:
        ready = [slot for slot, state in enumerate(self.state) if state == "ready"]
        if not ready:
            return None
        slot = min(ready, key=self.in_flight.__getitem__)
        return slot if self.in_flight[slot] < self.options.in_flight_per_worker else None

    def any_left(self) -> bool:
        """Whether any worker can still take a study (ready, or a replacement still starting)."""
        return any(state != "retired" for state in self.state)

    def submit(self, slot: int, key: str, compare_prior: bool):
        self.in_flight[slot] += 1
        return self.actors[slot].draft.remote(key, compare_prior), (slot, self.generation[slot])

    def finished(self, slot: int) -> None:
        self.in_flight[slot] -= 1

    def replace(self, slot: int, generation: int) -> bool:
        """Start a new actor in ``slot`` if the dead one was its current actor (its other studies fail too)."""
        if generation != self.generation[slot] or self.state[slot] == "retired":
            return False
        self.generation[slot] += 1
        self.actors[slot] = self._new(slot, self.generation[slot])
        self.state[slot] = "starting"
        self.starting[self.actors[slot].info.remote()] = (slot, self.generation[slot], time.monotonic())
        return True

    def started(self, ref) -> None:
        """A replacement's info() came back: ready, or retired when it could not load the model."""
        slot, generation, _ = self.starting.pop(ref)
        try:
            info = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:  # died while starting
            info = {"error": type(exc).__name__, "host": "?"}
        if generation != self.generation[slot]:
            return
        if "error" in info:
            self._retire(slot, f"its replacement on {info['host']} could not load the model: {info['error']}")
        else:
            self.state[slot] = "ready"
            log.info("ray worker %d replaced on %s (pid %s)", slot, info["host"], info["pid"])

    def retire_late_starters(self) -> None:
        now = time.monotonic()
        for ref, (slot, _, since) in list(self.starting.items()):
            if now - since > self.options.start_timeout_s:
                del self.starting[ref]
                self._retire(slot, f"its replacement was not placed within {self.options.start_timeout_s:.0f} s")

    def _retire(self, slot: int, why: str) -> None:
        self.state[slot] = "retired"
        log.warning("ray worker %d retired (%s); going on with %d workers", slot, why,
                    sum(state != "retired" for state in self.state))
        try:
            self.ray.kill(self.actors[slot])
        except Exception:  # already dead
            pass

    def shutdown(self) -> None:
        for actor in self.actors:
            try:
                self.ray.kill(actor)
            except Exception:  # already dead: nothing to stop
                pass


@dataclass
class _Run:
    """The driver's per-batch bookkeeping."""

    summary: BatchSummary = field(default_factory=BatchSummary)
    attempts: Counter = field(default_factory=Counter)
    outages_in_a_row: int = 0


def _gpus_per_worker(ray, options: RayOptions, device: str) -> float:
    if options.gpus_per_worker is not None:
        return options.gpus_per_worker
    gpus = ray.cluster_resources().get("GPU", 0)
    if device == "cpu" or gpus <= 0:
        return 0.0
    return min(1.0, gpus / options.workers)


def run_batch_ray(
    source: FolderSource | ServerSource | str | Path,
    out_dir: str | Path,
    *,
    model: str | Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    options: RayOptions | None = None,
    store: DicomWebClient | None = None,
    progress: bool = True,
    compare_prior: bool = False,
    stop_after_pacs_failures: int | None = 5,
    **gen,
) -> BatchSummary:
    """Draft every study of ``source`` into ``out_dir`` on Ray workers; see the module docstring.

    ``model`` is a folder or an installed model's name, resolved on each worker (install it on every node, or
    give a path on a shared file system). ``gen``: generation settings (``max_new_tokens``, ...). If Ray is
    already initialised in this process (``ray.init(address=...)`` in Slicer's console) that connection is used
    and left open; otherwise one is made to ``options.address`` (None: a local Ray) and closed at the end.
    """
    ray = _ray()
    options = options or RayOptions()
    out = Path(out_dir)
    if isinstance(source, (str, Path)):
        source = FolderSource(source, exclude=[out])
    started = time.perf_counter()
    keys = source.study_keys()  # before anything is created: bad input leaves no output folder behind
    own_connection = not ray.is_initialized()
    if own_connection:
        ray.init(address=options.address, namespace=RAY_NAMESPACE, log_to_driver=False, logging_level=logging.WARNING,
                 configure_logging=False, **({} if options.address else {"include_dashboard": False}))
    workers = None
    try:
        gpus = _gpus_per_worker(ray, options, device)
        threads = max(1, int(options.cpus_per_worker))
        model_arg = str(model) if model is not None else None
        workers = _Workers(ray, options, (_portable(source), model_arg, device, precision, threads, gen),
                           uuid.uuid4().hex[:8], gpus)
        for slot, info in enumerate(workers.wait_ready()):
            log.info("ray worker %d on %s (pid %s): %s on %s", slot, info["host"], info["pid"], info["model"],
                     info["provider"])
            if gpus > 0 and info["provider"] == "CPUExecutionProvider":
                log.warning("ray worker %d on %s was given a GPU but runs on the CPU (no working CUDA there)",
                            slot, info["host"])
        ready_at = time.perf_counter()
        _make_output_folder(out)
        with Journal(out / JOURNAL_NAME) as journal:
            journal.add(keys)
            _sweep_killed_run(out, keys)
            run = _drive(ray, workers, source, keys, out, journal, store, options, progress, compare_prior,
                         stop_after_pacs_failures)
    finally:
        if workers is not None:
            workers.shutdown()
        if own_connection:
            ray.shutdown()
    summary = run.summary
    if summary.stopped:
        log.error("batch stopped early: %s", summary.stopped)
    summary.seconds = time.perf_counter() - started
    summary.startup_seconds = ready_at - started
    log.info("batch summary: %s", summary)
    return summary


def _drive(ray, workers: _Workers, source, keys: list[str], out: Path, journal: Journal,
           store: DicomWebClient | None, options: RayOptions, progress: bool, compare_prior: bool,
           stop_after: int | None) -> _Run:
    """Hand out studies (bounded), take results as they come, write and journal them; returns the bookkeeping."""
    run = _Run()
    summary = run.summary
    done_before = {r.key for r in journal.rows(keys) if r.state == "done"}
    queue = deque(k for k in keys if k not in done_before)
    summary.skipped = len(keys) - len(queue)
    log.info("ray batch from %s: %d studies, %d already done, %d workers", source.describe(), len(keys),
             summary.skipped, options.workers)
    bar = tqdm(total=len(queue), unit="study", disable=not progress, dynamic_ncols=True, desc="drafting (ray)")
    pending: dict = {}  # ObjectRef -> (key, (slot, generation))
    t0 = time.perf_counter()

    def finish(key: str, ok: bool, reason: str = "") -> None:
        if ok:
            summary.succeeded += 1
        else:
            journal.fail(key, reason)
            summary.failed += 1
            summary.failures.append((key, reason))
            log.warning("study %s failed: %s", key, reason)
        per_min = summary.succeeded / max(time.perf_counter() - t0, 1e-9) * 60
        bar.update(1)
        bar.set_postfix(ok=summary.succeeded, failed=summary.failed, rate=f"{per_min:.1f}/min", refresh=False)

    def retry_or_fail(key: str, reason: str) -> None:
        if run.attempts[key] <= options.retries and not summary.stopped:
            queue.appendleft(key)
        else:
            finish(key, False, f"{reason} (after {run.attempts[key]} attempts)" if run.attempts[key] > 1 else reason)

    try:
        while queue or pending:
            while queue and not summary.stopped and (slot := workers.free_slot()) is not None:
                key = queue.popleft()
                previous = journal.claim(key)
                if previous is None:  # done meanwhile (cannot happen with the journal lock held; kept exact)
                    continue
                paths = output_paths(out, key)
                if previous == "written" and paths["sr"].exists():  # outputs on disk: only the store is left
                    try:
                        _store_and_done(key, journal, store, paths, None)
                    except Exception as exc:
                        finish(key, False, _reason(exc))
                    else:
                        finish(key, True)
                    continue
                run.attempts[key] += 1
                ref, where = workers.submit(slot, key, compare_prior)
                pending[ref] = (key, where)
            if summary.stopped and queue:
                summary.not_attempted += len(queue)
                queue.clear()
            if not workers.any_left() and queue:  # every worker died and none could be restarted
                for key in list(queue):
                    finish(key, False, "no Ray worker left to draft it (see the log: workers retired)")
                queue.clear()
            if not pending and not workers.starting:
                continue
            ready, _ = ray.wait([*pending, *workers.starting], num_returns=1, timeout=5.0)
            workers.retire_late_starters()
            if not ready:
                continue
            (ref,) = ready
            if ref in workers.starting:
                workers.started(ref)
                continue
            key, (slot, generation) = pending.pop(ref)
            workers.finished(slot)
            try:
                result = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
                if workers.replace(slot, generation):
                    log.warning("ray worker %d died (%s); started a new one", slot, type(exc).__name__)
                retry_or_fail(key, f"the Ray worker drafting it died ({type(exc).__name__})")
                continue
            if "error" in result:
                if result["outage"]:
                    run.outages_in_a_row += 1
                    retry_or_fail(key, result["error"])
                    if stop_after and run.outages_in_a_row >= stop_after:
                        summary.stopped = summary.stopped or (
                            f"{run.outages_in_a_row} studies in a row failed on the PACS (last: {result['error']})")
                else:
                    run.outages_in_a_row = 0
                    finish(key, False, result["error"])
                continue
            run.outages_in_a_row = 0
            try:
                _write_outputs(key, result, paths := output_paths(out, key), journal)
                _store_and_done(key, journal, store, paths, result["timings"])
            except Exception as exc:  # writing or storing on the driver failed: that study's failure
                finish(key, False, _reason(exc))
            else:
                for stage, secs in result["timings"].items():
                    summary.stage_seconds[stage] = summary.stage_seconds.get(stage, 0.0) + secs
                finish(key, True)
    finally:
        bar.close()
        shutil.rmtree(out / RETRIEVED_DIR, ignore_errors=True)
    return run


def _reason(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, RadFoundError) else f"{type(exc).__name__}: {exc}"


def _write_outputs(key: str, result: dict, paths: dict[str, Path], journal: Journal) -> None:
    """The worker's three files into ``out_dir`` (temp file + rename each; all or none), then journal them."""
    try:
        for name in ("sr", "txt", "json"):  # the SR first: "written" is only recorded once all three are there
            write_bytes_atomic(paths[name], result["files"][name])
    except BaseException:
        for path in paths.values():
            if path.is_file():
                path.unlink()
        raise
    journal.written(key, result["sr_uid"], {k: str(v) for k, v in paths.items()}, result["timings"])


def _store_and_done(key: str, journal: Journal, store: DicomWebClient | None, paths: dict[str, Path],
                    timings: dict | None) -> None:
    if store is not None:
        t = time.perf_counter()
        store.store([paths["sr"]])
        if timings is not None:
            timings["store"] = time.perf_counter() - t
    journal.done(key, timings)
