"""API keys: ``Authorization: Bearer KEY`` and the collections each key may use.

Keys come from the config file and the environment::

    [api_keys]
    "sk-team-a" = ["seeds", "papers"]      # a key and the collections it may use
    "sha256:5e884898da28..." = ["*"]        # or the key's SHA-256, so the file need not hold it; "*": all

    ASSISTANT_API_KEYS="sk-team-a=seeds,papers;sk-admin=*"

Without any key configured the server answers loopback clients only (127.0.0.1, ::1), with every
collection. Keys are kept as SHA-256 digests and never logged or echoed in an error.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..config import read_sections
from ..errors import AccessError, ConfigError

ALL = "*"
ENV = "ASSISTANT_API_KEYS"


class Denied(AccessError):
    """A request the server turns away; ``status`` is the HTTP status (401 or 403)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Access:
    """What one caller may use: every collection (``everything``) or those named."""

    names: frozenset[str] = frozenset()
    everything: bool = False

    def may_use(self, collection: str) -> bool:
        return self.everything or collection in self.names

    def visible(self, collections: list[str]) -> list[str]:
        return [c for c in collections if self.may_use(c)]


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiKeys:
    """The configured keys (as digests) and the check every API request goes through."""

    def __init__(self, entries: Mapping[str, Access] | None = None):
        self._entries = dict(entries or {})

    @classmethod
    def load(cls, config_file: str | Path | None = None, env: Mapping[str, str] | None = None) -> "ApiKeys":
        env = os.environ if env is None else env
        entries: dict[str, Access] = {}
        table = read_sections(config_file).get("api_keys", {})
        if not isinstance(table, dict):
            raise ConfigError("[api_keys] must map each key to a list of collections, e.g. \"sk-1\" = [\"seeds\"]")
        for key, names in table.items():
            entries[_key_digest(str(key))] = _access(names, "a key in [api_keys]")
        for item in (env.get(ENV) or "").split(";"):
            if not item.strip():
                continue
            key, sep, names = item.strip().partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"{ENV} must look like KEY=collection,collection;KEY2=* (an entry has no '=')")
            entries[digest(key.strip())] = _access([n.strip() for n in names.split(",") if n.strip()], ENV)
        return cls(entries)

    @property
    def configured(self) -> bool:
        return bool(self._entries)

    def check(self, authorization: str | None, client_host: str | None, host_header: str | None = None) -> Access:
        """The caller's access, or ``Denied`` (401: no or unknown key; 403: not a loopback client).

        Without keys, a ``host_header`` (the request's ``Host``) must name this machine as well: a web
        page that rebinds its own name to 127.0.0.1 (DNS rebinding) would otherwise reach the API.
        """
        if not self._entries:
            if is_loopback(client_host) and (host_header is None or is_loopback(_hostname(host_header))):
                return Access(everything=True)
            raise Denied("this server takes requests from this machine only until API keys are configured "
                         "(set [api_keys] or ASSISTANT_API_KEYS)", 403)
        scheme, _, key = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Denied("missing API key: send the header 'Authorization: Bearer YOUR_KEY'", 401)
        presented = digest(key.strip())
        for known, access in self._entries.items():
            if hmac.compare_digest(known, presented):
                return access
        raise Denied("unknown API key: check the key you send", 401)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _hostname(host_header: str) -> str:
    """The host of a ``Host`` header: ``127.0.0.1:7860`` -> ``127.0.0.1``, ``[::1]:80`` -> ``::1``."""
    host = host_header.strip()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _key_digest(key: str) -> str:
    if key.startswith("sha256:"):
        hexdigest = key[len("sha256:"):].lower()
        if len(hexdigest) != 64 or any(c not in "0123456789abcdef" for c in hexdigest):
            raise ConfigError("a 'sha256:' key in [api_keys] must be followed by 64 hex digits")
        return hexdigest
    return digest(key)


def _access(names: object, where: str) -> Access:
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{where} must list the collections it may use, e.g. [\"seeds\"] or [\"*\"]")
    if ALL in names:
        return Access(everything=True)
    return Access(names=frozenset(names))
