"""The one error type archaeo's commands report as a message (never a traceback), and the CLI wrapper."""

import sys
from typing import Callable, List, Optional


class ArchaeoError(Exception):
    """A problem the user can fix; the message names the flag/variable/file and the fix."""


def run_cli(prog: str, body: Callable[[Optional[List[str]]], int], argv: Optional[List[str]] = None) -> int:
    """Runs a command's body; ArchaeoError becomes `prog: error: message` on stderr and exit status 2."""
    try:
        return body(argv)
    except ArchaeoError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr, flush=True)
        return 130
