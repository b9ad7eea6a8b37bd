"""Runs ``huiqi`` command lines through the console script's own entry (``huiqi.cli.main:app``, called as the
script calls it) in one process, so that a corpus of cases costs one interpreter start, not one each.

Input on stdin: a JSON list of argument lists. Output on stdout: a JSON list of ``[exit code, stdout,
stderr, seconds, traceback or ""]``. Anything that escapes the entry, even a BaseException, is reported as a
traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
import traceback


def main() -> None:
    from huiqi.cli.main import app

    results = []
    for argv in json.load(sys.stdin):
        out, err = io.StringIO(), io.StringIO()
        trace, code = "", 0
        started = time.monotonic()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            sys.argv = ["huiqi", *argv]
            try:
                app()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # what the test looks for
                trace = traceback.format_exc()
                code = -1
        results.append([code, out.getvalue(), err.getvalue(), time.monotonic() - started, trace])
    sys.stdout.write(json.dumps(results))


if __name__ == "__main__":
    main()
