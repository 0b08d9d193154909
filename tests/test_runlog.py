"""Job logs (crelens.runlog): logging and stderr go to the job's log file; failures are logged, then raised."""

from __future__ import annotations

import logging
import sys

import pytest

from crelens.runlog import logged


def test_logging_and_stderr_go_to_the_file(tmp_path):
    path = tmp_path / "logs" / "job.log"
    root_handlers = list(logging.getLogger().handlers)
    with logged(path) as log:
        log.info("step %d of %d", 1, 2)
        logging.getLogger("crelens.data.simulate").info("from a library module")
        print("progress bar", file=sys.stderr)
    text = path.read_text()
    assert "INFO crelens: step 1 of 2" in text
    assert "crelens.data.simulate: from a library module" in text
    assert "progress bar" in text
    assert logging.getLogger().handlers == root_handlers  # nothing left behind


def test_a_failure_is_logged_with_its_traceback_and_raised(tmp_path, capsys):
    path = tmp_path / "job.log"
    with pytest.raises(KeyError, match="chrZZ"):
        with logged(path):
            {}["chrZZ"]
    text = path.read_text()
    assert "job failed" in text and "Traceback" in text and "KeyError: 'chrZZ'" in text
    assert f"see {path}" in capsys.readouterr().err
