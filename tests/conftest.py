"""Shared fixtures for the fast unit tests: fake embedding models, a network guard, tiny corpora.

Real-model fixtures live with the integration tests (tests/test_integration.py), not here.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from hypothesis import settings as hypothesis_settings
from hypothesis.configuration import set_hypothesis_home_dir

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:  # so `import fakes` works in every import mode
    sys.path.insert(0, str(TESTS_DIR))

from fakes import WIKI, register_fakes, write_folder  # noqa: E402

from assistant import Assistant, Settings  # noqa: E402

NETWORK_DISABLED = "network disabled in tests"

# ------------------------------------------------------------------ network guard


def is_local_address(family: int, address: Any) -> bool:
    """True for the addresses a test may connect to: Unix sockets and loopback (127.0.0.0/8, ::1)."""
    if family == getattr(socket, "AF_UNIX", object()):
        return True
    if isinstance(address, (str, bytes)) and family not in (socket.AF_INET, socket.AF_INET6):
        return True  # a path-like address of another local family
    if not isinstance(address, tuple) or not address:
        return False
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).split("%", 1)[0]  # drop an IPv6 zone id
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False  # a host name other than localhost: it would need DNS and the network
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def block_network() -> Callable[[], None]:
    """Make every outbound connection to a non-loopback address raise ``OSError``.

    Patches ``socket.socket.connect``, ``socket.socket.connect_ex`` and ``socket.create_connection``;
    returns a function that undoes the patch.
    """
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_create_connection = socket.create_connection

    def guarded_connect(self, address, *args, **kwargs):
        if not is_local_address(self.family, address):
            raise OSError(f"{NETWORK_DISABLED}: refused connection to {address!r}")
        return original_connect(self, address, *args, **kwargs)

    def guarded_connect_ex(self, address, *args, **kwargs):
        if not is_local_address(self.family, address):
            raise OSError(f"{NETWORK_DISABLED}: refused connection to {address!r}")
        return original_connect_ex(self, address, *args, **kwargs)

    def guarded_create_connection(address, *args, **kwargs):
        if not is_local_address(socket.AF_INET, address):
            raise OSError(f"{NETWORK_DISABLED}: refused connection to {address!r}")
        return original_create_connection(address, *args, **kwargs)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign]
    socket.create_connection = guarded_create_connection  # type: ignore[assignment]

    def undo() -> None:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = original_connect_ex  # type: ignore[method-assign]
        socket.create_connection = original_create_connection  # type: ignore[assignment]

    return undo


@pytest.fixture(autouse=True, scope="session")
def no_network():
    """No test reaches the network: models and data must all be local."""
    undo = block_network()
    yield
    undo()


# Reproducible examples, and no .hypothesis/ folder written into the repository (its caches go to /tmp).
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "assistant-tests-hypothesis")
hypothesis_settings.register_profile("unit", database=None, derandomize=True, deadline=None)
hypothesis_settings.load_profile("unit")

# ------------------------------------------------------------------ fake models and settings

register_fakes()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path_factory):
    """Settings come only from what a test passes: no ASSISTANT_* variable leaks in from the shell."""
    import os

    for name in list(os.environ):
        if name.startswith("ASSISTANT_"):
            monkeypatch.delenv(name)
    # uploads go to the user's data folder (platformdirs reads XDG_DATA_HOME): a fresh one per test
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data-home")))


@pytest.fixture(autouse=True)
def rules_without_the_reader_in_unit_tests(request, monkeypatch):
    """Unit tests run the fake embedders and the hand rules alone, as tiny fakes do (their answers are
    written for them); tests marked ``integration`` get the real reader, and any test naming a reader
    file by its path gets that file."""
    if request.node.get_closest_marker("integration"):
        return
    import assistant.core
    from assistant.reader import load_reader

    monkeypatch.setattr(assistant.core, "load_reader", lambda setting: None if setting == "bundled" else load_reader(setting))


@pytest.fixture(scope="session")
def seeds_dir() -> Path:
    return TESTS_DIR.parent / "seeds"


@pytest.fixture
def fake_settings(tmp_path) -> Settings:
    return Settings(embed_model="fake-hash", index_dir=tmp_path / "index", show_progress=False)


DOCS = {
    "rivers.txt": (
        "The Alder river flows through the town of Brightwater. It is 120 kilometres long.\n\n"
        "Fishermen catch brown trout in its upper reaches every spring."
    ),
    "bakery.txt": (
        "Marta Olsen opened the Crumb bakery in 1998. The bakery sells rye bread and cinnamon buns.\n\n"
        "Every Saturday the bakery gives unsold bread to the food bank."
    ),
    "rocket.txt": (
        "The Kestrel rocket was launched from Andøya on 4 March 2021. Its second stage failed after ninety seconds.\n\n"
        "Engineers blamed a cracked fuel valve for the failure."
    ),
}


@pytest.fixture
def docs_dir(tmp_path) -> Path:
    folder = write_folder(tmp_path / "docs", DOCS)
    return folder


@pytest.fixture
def fake_bot(docs_dir, fake_settings) -> Assistant:
    return Assistant.from_folder(docs_dir, settings=fake_settings)


@pytest.fixture
def wiki_dir(tmp_path) -> Path:
    """A documents folder holding ``fakes.WIKI``: text with footnote marks of its own ("[2]")."""
    return write_folder(tmp_path / "wiki", WIKI)


# ------------------------------------------------------------------ a real PostgreSQL with pgvector


@pytest.fixture(scope="session")
def postgres_server():
    """PostgreSQL 16 with pgvector from the pgserver wheel (the "postgres" extra), one per test session.

    A test that needs it fails, never skips, when it cannot start. Its data folder is a fresh folder in the
    system temp dir, not under pytest's: run as root, pgserver runs PostgreSQL as its own user "pgserver",
    and every pytest session started meanwhile (other checkouts on the machine) makes /tmp/pytest-of-root
    0700 again, which took the running server's data folder away from it (a PANIC at the next checkpoint).
    """
    import shutil

    pgdata = Path(tempfile.mkdtemp(prefix="assistant-tests-postgres-"))
    try:
        import pgserver

        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        server.psql("SELECT 1;")
    except Exception as exc:  # noqa: BLE001 - whatever stops it, the test must fail saying so
        shutil.rmtree(pgdata, ignore_errors=True)
        pytest.fail(f"cannot start PostgreSQL with pgvector through pgserver ({exc.__class__.__name__}: {exc}); "
                    "install the 'postgres' extra (.ci/run does)")
    yield server
    server.cleanup()
    shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture
def postgres_uri(postgres_server) -> Iterator[str]:
    """A fresh, empty database of the session's server, dropped after the test."""
    import uuid

    name = f"test_{uuid.uuid4().hex[:12]}"
    postgres_server.psql(f"CREATE DATABASE {name};")
    base = postgres_server.get_uri()
    yield base.replace("/postgres?", f"/{name}?", 1)
    postgres_server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE);")


# ------------------------------------------------------------------ a real Milvus (Milvus Lite's server)


class MilvusServer:
    """``milvus-lite server`` (the pymilvus protocol over a data folder) in a process of its own."""

    def __init__(self, data: Path):
        from servers import free_port

        self.data = data
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.start()

    def start(self) -> None:
        import subprocess
        import sys
        import time

        from pymilvus import MilvusClient

        self.proc = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(self.data),
                                      "--host", "127.0.0.1", "--port", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while True:
            try:
                MilvusClient(self.uri, timeout=2, dedicated=True).close()
                return
            except Exception:  # noqa: BLE001 - not listening yet
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"milvus-lite server did not start: {self.proc.stderr.read()[-2000:]!r}")
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)


@pytest.fixture(scope="session")
def milvus_server():
    """Milvus Lite's gRPC server over a temporary folder, one per test session (the "milvus" extra). A test
    that needs it fails, never skips, when it cannot start."""
    import shutil

    data = Path(tempfile.mkdtemp(prefix="assistant-tests-milvus-"))
    try:
        server = MilvusServer(data)
    except Exception as exc:  # noqa: BLE001 - whatever stops it, the test must fail saying so
        shutil.rmtree(data, ignore_errors=True)
        pytest.fail(f"cannot start Milvus Lite's server ({exc.__class__.__name__}: {exc}); "
                    "install the 'milvus' extra (.ci/run does)")
    yield server
    server.stop()
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def milvus_uri(milvus_server) -> Iterator[str]:
    """A fresh, empty Milvus database on the session's server, dropped after the test."""
    import uuid

    from pymilvus import MilvusClient

    name = f"test_{uuid.uuid4().hex[:12]}"
    if milvus_server.proc.poll() is not None:  # a test stopped it
        milvus_server.start()
    client = MilvusClient(milvus_server.uri, timeout=10, dedicated=True)
    client.create_database(name)
    yield f"{milvus_server.uri}/{name}"
    if milvus_server.proc.poll() is not None:
        milvus_server.start()
    client = MilvusClient(milvus_server.uri, timeout=10, db_name=name, dedicated=True)
    for collection in client.list_collections():
        client.drop_collection(collection)
    client.close()
    MilvusClient(milvus_server.uri, timeout=10, dedicated=True).drop_database(name)
