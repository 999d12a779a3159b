"""Typed errors. Every error a user can cause names the file (or thing) and the problem.

The CLI prints ``str(error)`` as one line and exits non-zero; the Slicer modules
show it in a message box. Nothing catches ``Exception`` to hide bugs.
"""

from __future__ import annotations

from pathlib import Path


class RadFoundError(Exception):
    """Base class of every error RadFound raises on purpose."""

    exit_code = 2

    def __init__(self, problem: str, path: str | Path | None = None):
        # One line, whatever a library put in its exception text: the CLI prints it as is.
        self.problem = " ".join(str(problem).split())
        self.path = str(path) if path is not None else None
        super().__init__(f"{self.path}: {self.problem}" if self.path else self.problem)


class StudyReadError(RadFoundError):
    """An input file or folder cannot be read into a Study (corrupt, unsupported, inconsistent)."""


class UnsupportedInputError(StudyReadError):
    """The input is readable but not something RadFound can use (e.g. an SR, a non-image)."""


class DecoderMissingError(StudyReadError):
    """The pixel data uses a transfer syntax whose decoder is not installed."""


class GeometryError(StudyReadError):
    """A series cannot form one consistent volume (mixed sizes, orientations, gaps...)."""


class VolumeTooLargeError(StudyReadError):
    """A volume exceeds the configured size limit."""


class ModelError(RadFoundError):
    """A model folder is missing, malformed or cannot be run."""


class IntegrityError(ModelError):
    """A model file does not match the sha256 recorded in its manifest."""


class GenerationCancelled(RadFoundError):
    """Generation was cancelled by the user between two tokens."""

    exit_code = 130


class PacsError(RadFoundError):
    """A DICOMweb server refused, failed or could not be reached."""


class PacsUnavailable(PacsError):
    """The server could not be reached or kept failing after every retry (an outage, not a refusal):
    only these count towards stopping a batch early."""


class OutputError(RadFoundError):
    """An output file or folder cannot be written (not a folder, read-only, disk full...)."""


class ConfigError(RadFoundError):
    """A configuration file or environment setting is invalid."""


class DependencyError(RadFoundError):
    """A Python package RadFound needs is missing and was not (or could not be) installed."""
