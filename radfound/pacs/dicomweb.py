"""DICOMweb client (dicomweb-client + requests): QIDO-RS search, WADO-RS retrieve, STOW-RS store.

Every call is retried with exponential backoff (``backoff_s``, doubling, at most
``retries`` more attempts) on connection errors, timeouts and HTTP 5xx / 408 /
429, then fails with PacsError naming the server and the reason. Other 4xx
answers fail at once (retrying cannot fix them). dicomweb-client's own retry is
switched off so there is exactly one retry policy.

Logs carry UIDs, counts and server URLs only: never patient names or IDs, never
credentials (they live in the requests session, not in URLs or log lines).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset

from radfound.errors import ConfigError, PacsError, PacsUnavailable
from radfound.outputs.atomic import atomic_path
from radfound.pacs.settings import PacsSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Ask for instances in the transfer syntax they were stored in (no server-side transcoding).
ORIGINAL_SYNTAX = (("application/dicom", "*"),)
_RETRY_STATUS = {408, 429}
QIDO_PAGE = 1000  # results asked for per QIDO-RS request

# DICOM JSON tags used from QIDO answers
_STUDY_UID, _ACCESSION, _MODALITIES, _STUDY_DATE = "0020000D", "00080050", "00080061", "00080020"
_PATIENT_ID = "00100020"  # read only to match a study's priors (prior_studies), never kept


@dataclass(frozen=True)
class StudyHit:
    """One QIDO-RS study match, without any patient attribute."""

    study_uid: str
    accession: str = ""
    modalities: tuple[str, ...] = ()
    study_date: str = ""


def dicom_date(value: str | date | None) -> str:
    """'2024-03-01', '20240301' or a date -> DICOM DA ('20240301'); '' for None."""
    if value is None or value == "":
        return ""
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(str(value), fmt).strftime("%Y%m%d")
        except ValueError:
            pass
    raise ConfigError(f"not a date (use YYYY-MM-DD): {value!r}")


def _value(item: dict, tag: str) -> list:
    return list(item.get(tag, {}).get("Value", []))


def _host_not_found(exc: BaseException) -> bool:
    """The resolver says the name does not exist (not "Temporary failure in name resolution", which is retried)."""
    text = str(exc)
    return any(s in text for s in ("Name or service not known", "nodename nor servname provided",
                                   "No address associated with hostname", "[Errno 11001]"))


def _retriable(exc: BaseException) -> bool:
    if isinstance(exc, requests.exceptions.SSLError):  # a bad certificate does not fix itself
        return False
    if _host_not_found(exc):  # neither does a mistyped host name
        return False
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)):
        return True
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return exc.response.status_code >= 500 or exc.response.status_code in _RETRY_STATUS
    return False


def _reason(exc: BaseException) -> str:
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason or ''}".strip()
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.SSLError):
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):  # the message also holds the URL: keep only the cause
            return "TLS verification failed: server certificate not trusted (CERTIFICATE_VERIFY_FAILED)"
        return "TLS handshake failed (does the server speak https on this port?)"
    if isinstance(exc, requests.exceptions.JSONDecodeError):
        return "the answer is not DICOM JSON (is this the DICOMweb base URL?)"
    if isinstance(exc, requests.ConnectionError):
        return "the host name was not found" if _host_not_found(exc) else "cannot connect"
    if isinstance(exc, ValueError):  # dicomweb-client: e.g. 'Unexpected media type "text/html"'
        return f"unexpected answer from the server ({' '.join(str(exc).split())[:160]})"
    return type(exc).__name__


def _check_stored(answer: Dataset | None, sop_uids: list[str], url: str) -> None:
    """A STOW-RS answer can be HTTP 200/202 and still not store everything: a FailedSOPSequence entry, or
    an instance missing from ReferencedSOPSequence, is a refusal (PS3.18 10.5.3)."""
    if answer is None or len(answer) == 0:  # e.g. a Content-Type with parameters dicomweb-client does not parse
        log.warning("STOW-RS: the server's answer could not be read, so storage is not confirmed")
        return
    for item in answer.get("FailedSOPSequence") or []:
        reason = item.get("FailureReason")
        why = f" (failure reason 0x{int(reason):04X})" if reason is not None else ""
        raise PacsError(f"STOW-RS store refused: the server did not store {item.get('ReferencedSOPInstanceUID', '?')}"
                        f"{why}", url)
    stored = {str(item.get("ReferencedSOPInstanceUID", "")) for item in answer.get("ReferencedSOPSequence") or []}
    missing = [uid for uid in sop_uids if uid not in stored]
    if missing:
        raise PacsError(f"STOW-RS store refused: the server did not confirm storing {missing[0]}"
                        f"{f' and {len(missing) - 1} more' if len(missing) > 1 else ''}", url)


class _Session(requests.Session):
    """A requests session whose explicit TLS choice (a CA bundle or off) is not overridden by
    REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE; with verification on, those variables still apply."""

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if self.verify is not True:
            settings["verify"] = self.verify
        return settings


class DicomWebClient:
    """A configured DICOMweb server. Create it only when the user configured one."""

    def __init__(self, settings: PacsSettings, *, sleep: Callable[[float], None] = time.sleep):
        self.settings = settings
        self._sleep = sleep
        session = _Session()
        session.verify = settings.verify_tls
        # No gzip: a server compressing every retrieved image costs far more than it saves on a hospital
        # network (Orthanc, one 7 MB CR: 0.9-1.0 s with gzip, 0.13-0.19 s without), and most pixel data is
        # compressed already.
        session.headers["Accept-Encoding"] = "identity"
        if settings.token:
            session.headers["Authorization"] = f"Bearer {settings.token}"
        elif settings.user:
            session.auth = (settings.user, settings.password or "")
        self._client = DICOMwebClient(settings.url, session=session, timeout=settings.timeout_s)
        self._client.set_http_retry_params(retry=False)
        self.attempts = 0  # every HTTP operation attempted, retries included (for tests and the benchmark)

    @classmethod
    def from_config(cls, url: str | None = None, **overrides) -> DicomWebClient:
        return cls(PacsSettings.load(url, **overrides))

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` with retries and exponential backoff; PacsError after the last attempt."""
        wait = self.settings.backoff_s
        tries = self.settings.retries + 1
        for attempt in range(1, tries + 1):
            self.attempts += 1
            try:
                return fn()
            except (requests.RequestException, OSError, ValueError) as exc:
                if isinstance(exc, ValueError) and not isinstance(exc, requests.RequestException) \
                        and "media type" not in str(exc).lower():
                    raise  # not the server's answer: a bug, not a PACS problem
                if not _retriable(exc):
                    raise PacsError(f"{what} refused: {_reason(exc)}{self._auth_hint(exc)}", self.settings.url) \
                        from exc
                if attempt == tries:
                    raise PacsUnavailable(f"{what} failed after {tries} attempts: {_reason(exc)}",
                                          self.settings.url) from exc
                log.warning("%s: %s (attempt %d/%d), retrying in %.1f s", what, _reason(exc), attempt, tries, wait)
                self._sleep(wait)
                wait *= 2
        raise AssertionError("unreachable")

    def _auth_hint(self, exc: BaseException) -> str:
        """For HTTP 401: whether credentials were missing or not accepted, and where they are set."""
        if not (isinstance(exc, requests.HTTPError) and exc.response is not None and exc.response.status_code == 401):
            return ""
        s = self.settings
        if s.token or s.user:
            return " (the credentials were not accepted)"
        return " (the server needs credentials: set RADFOUND_DICOMWEB_USER and _PASSWORD, or RADFOUND_DICOMWEB_TOKEN)"

    # -- QIDO-RS -----------------------------------------------------------------------------------
    def search_studies(
        self,
        *,
        since: str | date | None = None,
        until: str | date | None = None,
        modality: str | None = None,
        accession: str | None = None,
    ) -> list[StudyHit]:
        """Studies matching a date range (inclusive), a modality in the study and/or an accession number."""
        filters: dict[str, str] = {}
        lo, hi = dicom_date(since), dicom_date(until)
        if lo or hi:
            filters["StudyDate"] = f"{lo}-{hi}"
        if accession:
            filters["AccessionNumber"] = accession
        # The modality is matched here, not by the server: Orthanc 1.10 applies limit/offset before its
        # ModalitiesInStudy filter, so paged results silently lose studies (2 of 5 found in a test).
        fields = ["StudyInstanceUID", "AccessionNumber", "ModalitiesInStudy", "StudyDate"]
        hits: list[StudyHit] = []
        seen: set[str] = set()
        for item in self._paged("QIDO-RS study search", self._client.search_for_studies,
                                search_filters=filters, fields=fields):
            uid = _value(item, _STUDY_UID)
            if not uid or uid[0] in seen:
                continue
            seen.add(uid[0])
            hit = StudyHit(
                study_uid=str(uid[0]),
                accession=str((_value(item, _ACCESSION) or [""])[0]),
                modalities=tuple(str(m) for m in _value(item, _MODALITIES)),
                study_date=str((_value(item, _STUDY_DATE) or [""])[0]),
            )
            if modality and modality.upper() not in {m.upper() for m in hit.modalities}:
                continue
            hits.append(hit)
        log.info("QIDO-RS: %d studies match %s", len(hits), sorted(filters) + (["modality"] if modality else []))
        return hits

    def prior_studies(self, study_uid: str) -> list[StudyHit]:
        """The same patient's studies dated before ``study_uid``'s that share one of its modalities, latest first.
        The PatientID is asked for only to match studies and is never returned (StudyHit has no patient field)."""
        fields = ["StudyInstanceUID", "PatientID", "StudyDate", "ModalitiesInStudy"]
        this = list(self._paged("QIDO-RS study search", self._client.search_for_studies,
                                search_filters={"StudyInstanceUID": study_uid}, fields=fields))
        if not this:
            return []
        patient = (_value(this[0], _PATIENT_ID) or [""])[0]
        date = str((_value(this[0], _STUDY_DATE) or [""])[0])
        modalities = {str(m).upper() for m in _value(this[0], _MODALITIES)} - {"SR", "KO", "PR"}
        if not patient or not date:
            return []
        hits = []
        for item in self._paged("QIDO-RS study search", self._client.search_for_studies,
                                search_filters={"PatientID": str(patient)}, fields=fields):
            uid = str((_value(item, _STUDY_UID) or [""])[0])
            when = str((_value(item, _STUDY_DATE) or [""])[0])
            mods = tuple(str(m) for m in _value(item, _MODALITIES))
            if (uid and uid != study_uid and when and when < date and str((_value(item, _PATIENT_ID) or [""])[0])
                    == str(patient) and modalities & {m.upper() for m in mods}):
                hits.append(StudyHit(study_uid=uid, modalities=mods, study_date=when))
        return sorted(hits, key=lambda h: h.study_date, reverse=True)

    def search_instances(self, study_uid: str, *, modality: str | None = None) -> list[dict]:
        """Instance-level QIDO-RS inside one study (DICOM JSON), e.g. modality='SR' to find drafts."""
        filters = {"Modality": modality} if modality else {}
        return list(self._paged("QIDO-RS instance search", self._client.search_for_instances,
                                study_instance_uid=study_uid, search_filters=filters))

    def _paged(self, what: str, search: Callable[..., list], **kwargs) -> list[dict]:
        """All results of a QIDO-RS search, page by page (limit/offset), each page retried on its own.

        Not dicomweb-client's ``get_remaining``: it loops until an empty page, which never
        came from Orthanc (an endless loop in a test). Here paging stops at a short page; a full
        page of repeats (a server ignoring offset) is an error rather than a silently short list.
        """
        results: list[dict] = []
        seen: set[str] = set()
        offset = 0
        while True:
            page = self._call(what, lambda: search(limit=QIDO_PAGE, offset=offset, **kwargs))
            new = []
            for item in page:
                key = json.dumps(item, sort_keys=True)
                if key not in seen:
                    seen.add(key)
                    new.append(item)
            results += new
            if len(page) < QIDO_PAGE:
                return results
            if not new:  # a full page of repeats: the server ignores offset, so more may exist unseen
                raise PacsError(f"{what}: the server ignores the QIDO-RS offset, so results past the first "
                                f"{len(results)} cannot be listed; narrow the query (e.g. a shorter date range)",
                                self.settings.url)
            offset += len(page)

    # -- WADO-RS -----------------------------------------------------------------------------------
    def retrieve_study(self, study_uid: str, folder: str | Path, *, images_only: bool = False) -> list[Path]:
        """Fetch every instance of a study into ``folder`` as ``<SOPInstanceUID>.dcm``.

        Instances are streamed and each written atomically as it arrives (a 600-slice CT never sits
        in memory whole); a failure part-way retries the whole study. ``images_only`` leaves out
        instances without pixels (SRs, key objects, presentation states)."""
        folder = Path(folder)

        def fetch() -> list[Path]:
            paths = []
            for ds in self._client.iter_study(study_uid, media_types=ORIGINAL_SYNTAX):
                if images_only and "Rows" not in ds:
                    continue
                path = folder / f"{ds.SOPInstanceUID}.dcm"
                with atomic_path(path) as tmp:
                    ds.save_as(tmp, enforce_file_format=True)
                paths.append(path)
            return paths

        paths = self._call("WADO-RS study retrieve", fetch)
        if not paths:
            raise PacsError(f"WADO-RS returned no {'images' if images_only else 'instances'} for study {study_uid}",
                            self.settings.url)
        log.info("WADO-RS: study %s, %d instances", study_uid, len(paths))
        return paths

    def retrieve_instance(self, study_uid: str, series_uid: str, sop_uid: str) -> Dataset:
        return self._call(
            "WADO-RS instance retrieve",
            lambda: self._client.retrieve_instance(study_uid, series_uid, sop_uid, media_types=ORIGINAL_SYNTAX),
        )

    # -- STOW-RS -----------------------------------------------------------------------------------
    def store(self, datasets: Sequence[Dataset | str | Path]) -> None:
        """Store instances (datasets or DICOM files). Re-storing the same SOP Instance UID is harmless."""
        items = [ds if isinstance(ds, Dataset) else pydicom.dcmread(ds) for ds in datasets]
        answer = self._call("STOW-RS store", lambda: self._client.store_instances(items))
        _check_stored(answer, [str(ds.SOPInstanceUID) for ds in items], self.settings.url)
        log.info("STOW-RS: stored %d instance(s)", len(items))
