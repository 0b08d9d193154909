"""A throwaway HTTP server on 127.0.0.1 for tests that download, with injectable faults.

Tests may not reach the internet, so downloads are exercised against files the test
writes itself; `truncate` and `fail_first` reproduce the two failures real mirrors have
(a connection cut mid-file, a temporarily overloaded server).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import sys
import threading
import urllib.parse


@contextlib.contextmanager
def serve(
    directory,
    *,
    truncate: dict[str, int] | None = None,
    fail_first: dict[str, int] | None = None,
    requests: list[str] | None = None,
):
    """Serve files of `directory` on 127.0.0.1 (random free port) in a background thread; yield base URL.

    truncate: {"name": n_bytes} sends the real Content-Length but only the first n bytes, then closes.
    fail_first: {"name": k} answers HTTP 503 to the first k requests for that name.
    requests: if given, the name of every GET request is appended to it, to count tries.
    Names are paths relative to `directory`, e.g. "ref/genome.fa.gz".
    """
    truncate = dict(truncate or {})
    failures_left = dict(fail_first or {})
    lock = threading.Lock()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            name = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
            if requests is not None:
                requests.append(name)
            with lock:
                fail = failures_left.get(name, 0) > 0
                if fail:
                    failures_left[name] -= 1
            if fail:
                self.send_error(503, "injected failure")
            elif name in truncate:
                self._send_truncated(name, truncate[name])
            else:
                super().do_GET()

        def _send_truncated(self, name, n_bytes):
            with open(os.path.join(self.directory, name), "rb") as handle:
                body = handle.read()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:n_bytes])
            self.wfile.flush()
            self.close_connection = True

        def log_message(self, format, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            # A client that hangs up early (as downloads under test do) is not an error here.
            if not isinstance(sys.exc_info()[1], ConnectionError):
                super().handle_error(request, client_address)

    handler = functools.partial(Handler, directory=os.fspath(directory))
    server = Server(("127.0.0.1", 0), handler)
    # A short poll interval keeps shutdown (and so each test) fast.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="loopback-http", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
