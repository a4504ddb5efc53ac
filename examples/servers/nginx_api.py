"""A real nginx on 127.0.0.1 that rate-limits like a strict API (``limit_req``).

Used by ``examples/rate_limited.py``, the nginx tests and the rate-limit benchmark. nginx
must be installed (Debian: ``apt-get install nginx-light``); ``.ci/run`` installs it.

    with NginxAPI(rate=100) as api:      # 100 requests/s for everyone together
        api.url                          # http://127.0.0.1:<port>/limited.json
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["NginxAPI", "nginx_binary"]


def nginx_binary() -> str:
    """The nginx executable, or a RuntimeError saying how to install one."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.path.exists(p)), None
    )
    if found is None:
        raise RuntimeError("nginx is not installed: apt-get install nginx-light (or your system's nginx)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NginxAPI:
    """nginx serving ``/limited.json`` at ``rate`` requests per second in all (``limit_req``,
    429 beyond it; ``burst`` requests of leeway absorb network jitter, none if 0) and ``/free.json``
    without a limit."""

    def __init__(self, rate: int, burst: int = 5) -> None:
        self.rate = rate
        self.burst = burst
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="skillstream-nginx-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/limited.json"

    @property
    def free_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/free.json"

    def _config(self) -> str:
        d = self.dir
        # burst=0: each request at least 1/rate after the last accepted one (nginx's clock
        # has millisecond ticks), the strictest an API can be.
        burst = f" burst={self.burst} nodelay" if self.burst else ""
        user = "user root;" if os.geteuid() == 0 else ""  # workers must read our temp dir
        return f"""
{user}
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    # One key for every client: the limit is the API's, not a connection's.
    limit_req_zone $server_name zone=api:1m rate={self.rate}r/s;
    limit_req_status 429;
    server {{
        listen 127.0.0.1:{self.port};
        server_name skillstream-api;
        root {d}/www;
        location = /limited.json {{ limit_req zone=api{burst}; }}
        location = /free.json {{ }}
    }}
}}
"""

    def __enter__(self) -> NginxAPI:
        binary = nginx_binary()
        (self.dir / "www").mkdir()
        for name in ("limited.json", "free.json"):
            (self.dir / "www" / name).write_text('{"ok": true}\n')
        conf = self.dir / "nginx.conf"
        conf.write_text(self._config())
        self.process = subprocess.Popen(
            [binary, "-c", str(conf), "-p", str(self.dir), "-e", str(self.dir / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while True:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"nginx did not start: {err.strip()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    raise RuntimeError("nginx did not listen within 10 s") from None
                time.sleep(0.02)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            if self.process.stderr is not None:
                self.process.stderr.close()
            self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)
