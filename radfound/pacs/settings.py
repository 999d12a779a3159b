"""Where the DICOMweb server is and how to authenticate: environment or a config file, never the command line.

Sources, first match wins per field:

1. Environment: ``RADFOUND_DICOMWEB_URL``, ``RADFOUND_DICOMWEB_USER`` +
   ``RADFOUND_DICOMWEB_PASSWORD`` (HTTP Basic) or ``RADFOUND_DICOMWEB_TOKEN``
   (Bearer), ``RADFOUND_DICOMWEB_CA_BUNDLE`` (a PEM file to trust).
2. A JSON config file, ``RADFOUND_DICOMWEB_CONFIG`` or
   ``<platformdirs user config dir>/radfound/dicomweb.json``, with the keys
   ``url``, ``user``, ``password``, ``token``, ``ca_bundle``, ``verify_tls``,
   ``timeout_s``, ``retries``, ``backoff_s``.

The URL may also be given to ``radfound batch --server``, but a URL carrying
credentials (``https://user:pw@host``) is refused so that secrets never sit in a
shell history or a process list. TLS certificates are verified unless the config
file says ``"verify_tls": false`` (a warning is logged each time).
Nothing is contacted unless a URL is configured.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

from radfound.errors import ConfigError

log = logging.getLogger(__name__)

ENV_URL = "RADFOUND_DICOMWEB_URL"
ENV_USER = "RADFOUND_DICOMWEB_USER"
ENV_PASSWORD = "RADFOUND_DICOMWEB_PASSWORD"
ENV_TOKEN = "RADFOUND_DICOMWEB_TOKEN"
ENV_CA_BUNDLE = "RADFOUND_DICOMWEB_CA_BUNDLE"
ENV_CONFIG = "RADFOUND_DICOMWEB_CONFIG"

_FILE_KEYS = {"url", "user", "password", "token", "ca_bundle", "verify_tls", "timeout_s", "retries", "backoff_s"}


def config_file() -> Path:
    """The DICOMweb config file in use (it need not exist)."""
    env = os.environ.get(ENV_CONFIG)
    return Path(env).expanduser() if env else Path(platformdirs.user_config_dir("radfound")) / "dicomweb.json"


@dataclass
class PacsSettings:
    """Connection settings of one DICOMweb server; ``repr`` never shows secrets."""

    url: str
    user: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    verify_tls: bool | str = True  # True, False or a CA bundle path
    timeout_s: float = 30.0
    retries: int = 4  # attempts after the first one
    backoff_s: float = 1.0  # first wait; doubles each retry

    def __post_init__(self) -> None:
        # Secrets first, before the URL is ever echoed in a message: user info, or a query (?access_token=...).
        authority = self.url.split("://", 1)[-1].split("/", 1)[0]
        if "@" in authority:
            raise ConfigError(
                "credentials in the server URL are refused; set RADFOUND_DICOMWEB_USER/PASSWORD or "
                f"RADFOUND_DICOMWEB_TOKEN, or put them in {config_file()}"
            )
        parts = urlsplit(self.url)
        if parts.query or parts.fragment:
            raise ConfigError("a DICOMweb base URL has no query string (it may hold a token, which would then be "
                              "echoed and logged); set RADFOUND_DICOMWEB_TOKEN instead")
        try:
            port_ok = parts.port is None or 0 < parts.port
        except ValueError:
            port_ok = False
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"not an http(s) DICOMweb URL: {self.url!r}")
        if not port_ok:
            raise ConfigError(f"the port in the DICOMweb URL is not a number from 1 to 65535: {self.url!r}")
        self.url = self.url.rstrip("/")

    @classmethod
    def load(cls, url: str | None = None, **overrides) -> PacsSettings:
        """Settings from ``url`` (if given), the environment and the config file, in that order."""
        cfg = _read_config_file(config_file())
        env = os.environ
        resolved = url or env.get(ENV_URL) or cfg.get("url")
        if not resolved:
            raise ConfigError(
                f"no DICOMweb server configured (pass --server URL, set {ENV_URL} or add \"url\" to {config_file()})"
            )
        verify: bool | str = cfg.get("verify_tls", True)
        ca = env.get(ENV_CA_BUNDLE) or cfg.get("ca_bundle")
        if ca:
            verify = str(Path(ca).expanduser())
        settings = cls(
            url=resolved,
            user=env.get(ENV_USER) or cfg.get("user"),
            password=env.get(ENV_PASSWORD) or cfg.get("password"),
            token=env.get(ENV_TOKEN) or cfg.get("token"),
            verify_tls=verify,
            timeout_s=float(cfg.get("timeout_s", cls.timeout_s)),
            retries=int(cfg.get("retries", cls.retries)),
            backoff_s=float(cfg.get("backoff_s", cls.backoff_s)),
        )
        for key, value in overrides.items():
            setattr(settings, key, value)
        if settings.verify_tls is False and settings.url.startswith("https"):
            log.warning("TLS certificate verification is OFF for %s (verify_tls false in %s)", settings.url, config_file())
        return settings


def _read_config_file(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read DICOMweb config ({exc})", path) from exc
    if not isinstance(data, dict) or set(data) - _FILE_KEYS:
        raise ConfigError(f"expected a JSON object with keys from {sorted(_FILE_KEYS)}", path)
    if (data.get("password") or data.get("token")) and os.name == "posix":
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("%s holds a secret but is readable by other users; chmod 600 it", path)
    return data
