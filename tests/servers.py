"""OpenAI-compatible servers started from PyPI packages for the tests (llama.cpp's, infinity-emb's).

``openai_server(cmd, port, name, timeout)`` starts one on 127.0.0.1:``port``, waits until its
``/v1/models`` answers, yields the ``/v1`` base URL and stops it afterwards; a server that exits or does not
start in time fails the test with its last output, never a skip.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from typing import Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def openai_server(cmd: list[str], port: int, name: str, timeout: float, env: dict[str, str],
                  stop_timeout: float = 15) -> Iterator[str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: {proc.stdout.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError(f"{name} did not start in {timeout:g} s")
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
