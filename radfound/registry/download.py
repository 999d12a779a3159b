"""One model file over HTTP(S): streamed, resumable, retried, checked by sha256 before it is moved into place.

The bytes go to ``<dest>.part``. A later call (after a crash, a kill, a dropped connection) asks the server for
the rest with an HTTP ``Range`` request; a server that ignores it and sends the whole file again is read from
the start. Connection errors, timeouts and 5xx answers are retried ``retries`` times with exponential backoff,
each retry resuming where the bytes stopped; a 4xx answer moves on to the file's next mirror URL. Only a file
of the registry's size and sha256 is renamed to ``dest``; otherwise the ``.part`` is deleted and a ModelError
names the file and the URL. ``cancel`` (a threading.Event) stops between chunks and keeps the ``.part`` for a
later resume.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Callable

from radfound.errors import ModelError, RadFoundError

CHUNK = 1 << 16
#: Progress callback: (what, bytes done, bytes in all).
Progress = Callable[[str, int, int], None]


class DownloadCancelled(RadFoundError):
    """The user stopped a download; the partial file is kept so the next install resumes it."""


def _session():
    import requests

    s = requests.Session()
    s.headers["User-Agent"] = "RadFound model installer"
    return s


def _hash_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _total(response, have: int) -> int | None:
    """The whole file's size from the answer's headers (Content-Range of a 206, else Content-Length)."""
    if response.status_code == 206:
        total = response.headers.get("Content-Range", "").rsplit("/", 1)[-1]
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length", "")
    return int(length) if length.isdigit() else None


def fetch(urls: list[str], dest: Path, sha256: str | None, size: int | None, *, progress: Progress | None = None,
          cancel: threading.Event | None = None, retries: int = 4, backoff: float = 1.0, timeout: float = 30.0,
          session=None) -> Path:
    """Download ``dest`` from the first of ``urls`` that serves it; see the module docstring. ``sha256`` / ``size``
    None (an unpinned registry entry): no hash check, and the size the server announces."""
    import requests

    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    session = session or _session()
    errors = []
    for url in urls:
        attempt, expected = 0, size
        while True:
            have = part.stat().st_size if part.exists() else 0
            if expected is not None and have > expected:  # not this file: start again
                part.unlink()
                have = 0
            if expected is not None and have == expected:
                break
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                with session.get(url, headers=headers, stream=True, timeout=timeout) as r:
                    if r.status_code == 416 and have:  # asked beyond the end: the part is suspect
                        part.unlink()
                        continue
                    if r.status_code >= 500:
                        raise requests.ConnectionError(f"HTTP {r.status_code}")
                    if r.status_code >= 400:
                        errors.append(f"{url}: HTTP {r.status_code}")
                        break
                    mode = "ab" if r.status_code == 206 and have else "wb"
                    done = have if mode == "ab" else 0
                    expected = size if size is not None else _total(r, done)
                    with open(part, mode) as fh:
                        for chunk in r.iter_content(CHUNK):
                            if cancel is not None and cancel.is_set():
                                raise DownloadCancelled(f"download of {dest.name} cancelled; run the install again "
                                                        "to resume it")
                            fh.write(chunk)
                            done += len(chunk)
                            if progress:
                                progress(f"downloading {dest.name}", done, expected or 0)
                    if expected is None:  # nothing announced: what arrived before a clean end is the file
                        expected = done
                    if done > expected:
                        part.unlink()
                        raise ModelError(f"{url} sent {done} bytes, {expected} were expected: not the registered "
                                         "file", dest)
                    if done < expected:  # the server closed the connection early
                        raise requests.ConnectionError(f"connection closed after {done} of {expected} bytes")
                    break
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                attempt += 1
                if attempt > retries:
                    errors.append(f"{url}: {exc}")
                    break
                time.sleep(backoff * 2 ** (attempt - 1))
                continue
        if part.exists() and expected is not None and part.stat().st_size == expected:
            digest = _hash_of(part)
            if sha256 is not None and digest != sha256:
                part.unlink()
                raise ModelError(f"downloaded from {url} but its sha256 is {digest[:16]}..., the registry says "
                                 f"{sha256[:16]}...: the file was not installed", dest)
            os.replace(part, dest)
            return dest
    raise ModelError(f"could not be downloaded ({'; '.join(errors) or 'no URL'}); the partial file, if any, is kept "
                     "for the next try", dest)
