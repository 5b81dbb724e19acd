"""The `ich` command: one entry point, one module per subcommand.

Exit codes: 0 ok, 1 internal error, 2 bad input or option (an `ICHError`), 130 interrupted
(SIGINT or SIGTERM), 141 output pipe closed (e.g. `ich ... | head`).
Each subcommand module defines `register(subparsers)`; heavy imports happen inside the command
so that `ich --help` stays fast.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import signal
import sys
import warnings

from .. import __version__
from ..errors import ICHError, ICHWarning
from ..progress import use_json_lines
from .common import OneLineParser, prepare_outputs

# subcommand name -> module under ichkit.cli (one line per command; order is the help order)
COMMANDS = [
    "inspect",
    "volume",
    "radiomics",
    "features",
    "segment",
    "dataset",
    "train",
    "bench-seg",
    "predict",
    "synth",
    "models",
    "phantom",
    "demo",
    "run",
    "evaluate",
    "view",
    "report",
    "readout",
]

EXIT_OK, EXIT_INTERNAL, EXIT_USER, EXIT_INTERRUPTED, EXIT_PIPE = 0, 1, 2, 130, 141


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="ich",
        description="ICH toolkit: intracerebral hemorrhage on non-contrast head CT (headless backend).",
        epilog="Exit codes: 0 ok, 1 internal error, 2 bad input, 130 interrupted, 141 output pipe closed.",
    )
    parser.add_argument("--version", action="version", version=f"ich {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--progress-json", action="store_true", help="report progress as JSON lines on stdout (for background jobs)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name.replace('-', '_')}_cmd").register(sub)
    return parser


def _one_line_warnings(message, category, filename, lineno, file=None, line=None):
    if issubclass(category, ICHWarning):
        print(f"warning: {message}", file=sys.stderr)
    else:
        logging.getLogger("ichkit").debug("%s:%s: %s: %s", filename, lineno, category.__name__, message)


def _terminate(signum, frame):
    """SIGTERM (a scheduler, `kill`) ends a command as Ctrl-C does, but for certain: an exception
    raised here could land in a callback whose errors Python ignores, and the work would go on.
    Nothing is lost by skipping the clean-up: outputs are published whole or not at all
    (`atomic.signals_held` defers this handler during the renames) and the next write removes
    the temporaries of a dead process."""
    os.write(2, b"interrupted\n")
    os._exit(EXIT_INTERRUPTED)


def _pipe_closed() -> int:
    """The reader (`head`) went away: say nothing more, and keep the exit flush quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_PIPE


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or an option error already printed as one line
        return int(exc.code or 0)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.debug:
        warnings.showwarning = _one_line_warnings
    if args.progress_json:
        use_json_lines()
    try:
        prepare_outputs(args)
        code = int(args.func(args) or 0)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _pipe_closed()
    except ICHError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the one place internal errors become a clean exit
        if args.debug:
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(f"internal error: {type(exc).__name__}: {first} (rerun with --debug for details)", file=sys.stderr)
        return EXIT_INTERNAL


def entry() -> None:
    """The `ich` command. Before exiting, the heap is frozen out of the garbage collector: the
    shutdown collection would otherwise walk torch's and timm's whole object graph, about 0.8 s
    of a 5 s `ich predict` (the OS frees the memory anyway; atexit handlers still run)."""
    signal.signal(signal.SIGTERM, _terminate)
    code = main()
    for signum in (signal.SIGINT, signal.SIGTERM):  # the work is done: a late signal just ends the
        signal.signal(signum, signal.SIG_DFL)       # process, no KeyboardInterrupt inside atexit
    gc.freeze()
    sys.exit(code)
