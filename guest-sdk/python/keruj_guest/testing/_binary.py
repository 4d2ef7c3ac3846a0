"""The engine: the ``keruj-host`` binary the author already installed, run
as ``keruj-host dev`` on ``127.0.0.1:0`` over temporary folders. The binary
(wasmtime inside) was compiled once, when it was installed; a test only
starts it."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import List, Optional, Union

#: The variable that names the binary, ahead of ``PATH``.
BIN_VAR = "KERUJ_HOST_BIN"

#: How long the host may take to start and compile the app (a Python
#: component takes 10-30 s to compile).
START_TIMEOUT = 120.0

#: How many of the host's last log lines an error shows.
LOG_TAIL_LINES = 30


def _checkout_host() -> Optional[Path]:
    """``host/`` of the keruj-host checkout this SDK sits in, if it does
    (guest-sdk/python/keruj_guest/testing/_binary.py): the install command
    can then name it."""
    parents = Path(__file__).resolve().parents
    return parents[4] / "host" if len(parents) > 4 else None


class Error(Exception):
    """Why a :class:`TestApp` could not start (the binary missing, the build
    failing, the app not loading) or the dev host refused a call."""


PathLike = Union[str, "os.PathLike[str]"]


def find(explicit: Optional[PathLike] = None) -> Path:
    """``explicit``, else ``KERUJ_HOST_BIN``, else ``keruj-host`` on
    ``PATH``; else an :class:`Error` with the command that installs it."""
    if explicit is not None:
        return Path(explicit)
    named = os.environ.get(BIN_VAR, "")
    if named:
        if not Path(named).is_file():
            raise Error(f"{BIN_VAR} is {named}, which is not a file: point it at the keruj-host binary, "
                        "or unset it to use the one on PATH")
        return Path(named)
    found = shutil.which("keruj-host")
    if found is None:
        raise Error(missing(_checkout_host()))
    return Path(found)


def missing(checkout_host: Optional[Path]) -> str:
    """What to do when there is no binary."""
    from_checkout = ""
    if checkout_host is not None and (checkout_host / "Cargo.toml").is_file():
        from_checkout = f"    cargo install --locked --path {checkout_host.resolve()}\n"
    return (f"keruj_guest.testing runs the app in the keruj-host binary, and none was found: not in "
            f"{BIN_VAR}, not on PATH. Install it once (it compiles wasmtime: minutes), then run the "
            f"tests again:\n{from_checkout}    cargo install --locked --git <keruj-host repository URL> "
            f"keruj-host\nor set {BIN_VAR} to a keruj-host binary you built (target/release/keruj-host "
            "of a checkout).")


def function_cache() -> Path:
    """Where the host keeps compiled functions across test runs (unless
    KERUJ_FUNCTION_CACHE names a folder): after an edit only what changed
    compiles again, not the whole Python interpreter inside the component.
    The user's cache folder, which no other user can have prepared (the host
    refuses a folder others may write)."""
    cache = os.environ.get("XDG_CACHE_HOME")
    if not cache:
        try:
            cache = str(Path.home() / ".cache")
        except RuntimeError:  # no home folder
            cache = tempfile.gettempdir()
    return Path(cache) / "keruj-host" / "functions"


class Running:
    """A running ``keruj-host dev``, started by :meth:`start`, stopped by
    :meth:`stop`."""

    def __init__(self, process: subprocess.Popen, log: Path) -> None:
        self.process = process
        self.log = log
        self.host = "127.0.0.1"
        self.port = 0
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._starting = True
        self._reader = threading.Thread(target=self._read_stdout, name="keruj-host-stdout", daemon=True)

    @classmethod
    def start(cls, binary: Path, plugins: Path, data: Path, log: Path, answer_url: str,
              keruj_api_url: str) -> "Running":
        """Starts ``binary`` serving ``plugins``, its data in ``data``, its log
        in ``log``, every outbound call posted to ``answer_url``; returns once
        the apps are loaded."""
        command: List[str] = [
            str(binary), "dev", "--plugins", str(plugins), "--data", str(data),
            "--listen", "127.0.0.1:0", "--answer-outbound", answer_url,
            "--keruj-api-url", keruj_api_url,
            # The host ends when our end of its stdin closes: it goes with the
            # test process even when that one is killed.
            "--stop-with-stdin",
        ]
        env = dict(os.environ, KERUJ_LOG_FORMAT="human")
        env.setdefault("KERUJ_FUNCTION_CACHE", str(function_cache()))
        try:
            with open(log, "wb") as log_file:
                process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           stderr=log_file, env=env)
        except OSError as error:
            raise Error(f"cannot start {binary}: {error}") from None
        running = cls(process, log)
        running._reader.start()
        try:
            running._wait_ready(binary)
        except BaseException:
            running.stop()
            raise
        return running

    def _read_stdout(self) -> None:
        """Hands the host's lines to :meth:`_wait_ready`, then keeps draining:
        the pipe must not fill."""
        assert self.process.stdout is not None
        try:
            for raw in self.process.stdout:
                if self._starting:
                    self._lines.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
        except (OSError, ValueError):
            pass
        self._lines.put(None)

    def _wait_ready(self, binary: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            left = deadline - time.monotonic()
            try:
                line = self._lines.get(timeout=max(left, 0.001))
            except queue.Empty:
                raise self._failed(binary, ended=False) from None
            if line is None:
                raise self._failed(binary, ended=True)
            # `keruj-host dev console listening on http://127.0.0.1:PORT/`
            if " listening on http://" in line:
                address = line.rsplit("http://", 1)[1].rstrip("/")
                host, _, port = address.rpartition(":")
                if not host or not port.isdigit():
                    raise Error(f"keruj-host printed an address unread: {line}")
                self.host, self.port = host, int(port)
            # Every app in the folder compiled (or refused, with a reason).
            elif line.startswith("keruj-host apps loaded"):
                break
        self._starting = False
        if self.port == 0:
            raise self._failed(binary, ended=False)

    def _failed(self, binary: Path, ended: bool) -> Error:
        """Why the host did not start: its exit and its last log lines.
        ``ended``: its stdout closed, so it is exiting."""
        try:
            code = self.process.wait(timeout=5 if ended else 0.1)
            exited = f"it exited (exit status: {code})" if code >= 0 else f"it exited (signal: {-code})"
        except subprocess.TimeoutExpired:
            exited = f"it was not ready in {START_TIMEOUT:.0f} s"
        log = self.log_tail()
        hint = ""
        if "unexpected argument" in log:
            hint = ("\nthis keruj-host is older than keruj_guest.testing: install the newer one (see "
                    "\"Test your app\" in the Python SDK's README)")
        return Error(f"{binary} dev did not start: {exited}; its log:\n{log}{hint}")

    @property
    def addr(self) -> str:
        """``127.0.0.1:PORT``."""
        return f"{self.host}:{self.port}"

    def log_tail(self) -> str:
        """The last lines the host logged."""
        try:
            text = self.log.read_text("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-LOG_TAIL_LINES:])

    def stop(self) -> None:
        """Kills the host and waits for it; closes the pipes."""
        self._starting = False
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self._reader.is_alive():
            self._reader.join(timeout=5)  # it reads to the end of the dead host's stdout
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None and not (pipe is self.process.stdout and self._reader.is_alive()):
                try:
                    pipe.close()
                except OSError:
                    pass
