"""Entry point of the ``radfound`` command.

Each subcommand lives in ``radfound/cli/<name>_cmd.py`` and exposes
``register(subparsers)``, which adds its parser and sets ``func``. A RadFoundError
becomes one readable line on stderr and a non-zero exit; set ``RADFOUND_DEBUG=1``
to see tracebacks of unexpected errors.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from radfound import __version__
from radfound.errors import RadFoundError

#: Subcommand modules, in the order ``radfound --help`` lists them.
COMMANDS = ("inspect", "report", "ask", "similar", "batch", "eval", "train", "export", "bench", "models")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="radfound",
        description="RadFound: draft radiology reports and answer questions about images. "
        "Output is a preliminary AI draft for a radiologist to verify, edit and sign.",
    )
    parser.add_argument("--version", action="version", version=f"radfound {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"radfound.cli.{name}_cmd")
        except ModuleNotFoundError as exc:
            if exc.name == f"radfound.cli.{name}_cmd":
                continue  # subcommand not built yet
            raise
        module.register(sub)
    return parser


def _never_fail_on_encoding() -> None:
    """A console or pipe whose encoding cannot hold an answer's characters (Chinese on cp1252) gets them
    backslash-escaped (\\u5fc3, also valid inside a JSON string) instead of failing after the model ran."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
        if encoding not in ("utf8", "utf8sig") and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def main(argv: list[str] | None = None) -> int:
    # pydicom and Pillow warn (file:line, several lines) about what RadFound then reports as one line of its own
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\.|$)")
    warnings.filterwarnings("ignore", module=r"PIL(\.|$)")
    _never_fail_on_encoding()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except RadFoundError as exc:
        print(f"radfound {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"radfound {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`radfound inspect DIR | head -1`): stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141
    except Exception as exc:  # an unexpected bug: still one line, unless debugging
        if os.environ.get("RADFOUND_DEBUG"):
            raise
        print(
            f"radfound {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(set RADFOUND_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
