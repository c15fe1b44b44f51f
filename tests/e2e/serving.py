"""Run ``smsledger serve`` as a real process for the tests that need one."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

SMSLEDGER = str(Path(sys.executable).with_name("smsledger"))
TOKEN_LINE = re.compile(r"^\s+(sk_operator_\S+)\s*$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSLEDGER_")}
    env.update(overrides)
    return env


@dataclass
class Served:
    url: str
    process: subprocess.Popen[str]
    stdout: list[str] = field(default_factory=list)

    @property
    def printed_token(self) -> str | None:
        for line in self.stdout:
            m = TOKEN_LINE.match(line)
            if m:
                return m.group(1)
        return None


@contextlib.contextmanager
def serve(
    cwd: Path,
    env: dict[str, str],
    timeout: float = 90.0,
    *,
    executable: str = SMSLEDGER,
    args: Sequence[str] = (),
) -> Iterator[Served]:
    """``smsledger serve`` (with ``args``) on a free port, until it answers /healthz.

    The deadline is generous: it costs nothing when serve comes up in its usual few
    seconds, and on a machine with every core busy (CI beside other work) ``--workers 2``
    has taken over 30 s to import and start its processes."""
    port = free_port()
    process = subprocess.Popen(
        [executable, "serve", "--port", str(port), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    served = Served(f"http://127.0.0.1:{port}", process)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            served.stdout.append(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(served.url + "/healthz", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                how = "exited" if process.poll() is not None else "timed out"
                msg = f"smsledger serve did not come up ({how}): {''.join(served.stdout)}"
                raise RuntimeError(msg)
            time.sleep(0.02)  # a start is ~1 s: a coarser poll adds its half on average
        yield served
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
