"""Logging for workflow jobs: everything a job says, progress bars included, goes to its log file."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path


@contextlib.contextmanager
def logged(path, level: int = logging.INFO):
    """Send logging and stderr (where tqdm draws) to `path`; log a traceback before re-raising."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", buffering=1) as handle:
        handler = logging.StreamHandler(handle)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        root = logging.getLogger()
        root.addHandler(handler)
        previous = root.level
        root.setLevel(level)
        logging.captureWarnings(True)
        try:
            with contextlib.redirect_stderr(handle):
                yield logging.getLogger("crelens")
        except Exception:
            logging.getLogger("crelens").exception("job failed")
            print(f"crelens: job failed, see {path}", file=sys.stderr)
            raise
        finally:
            root.removeHandler(handler)
            root.setLevel(previous)
