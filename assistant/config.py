"""One settings object: defaults, then a TOML file, then ``ASSISTANT_*`` env vars, then keyword args.

>>> Settings(top_k=3).top_k
3
"""

from __future__ import annotations

import dataclasses
import numbers
import os
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError

ANSWER_MODES = ("extractive", "llm")
LLM_BACKENDS = ("local", "openai", "ollama")
EMBED_BACKENDS = ("torch", "onnx", "onnx-int8", "openai")

# The extractive answerer refuses when its best sentence scores under this, or when the evidence speaks
# against every sentence close enough (answering/evidence.py). 0.45 with that evidence answers as many
# answerable questions of the SQuAD 2.0 slice as 0.50 did without it (0.793), refuses more unanswerable
# ones on all three development sets (seed, multi-document, SQuAD 2.0), and loses no right answer on the
# seed set; see benchmarks/calibrate_refusal.py and BENCHMARKS.md ("Refusal threshold").
DEFAULT_REFUSAL_THRESHOLD = 0.45
# 0: the reader refuses nothing by itself yet. Refusing sentences it reads under 0.05 refused 0.02 more of
# the SQuAD 2.0 slice's unanswerable questions and cost a seed and a multi-document gold answer; under 0.15,
# 0.07 more for 4 gold answers (BENCHMARKS.md, "Reader")
DEFAULT_READER_THRESHOLD = 0.0
MAX_TOP_K = 100


STORE_SCHEMES = ("postgresql://", "postgres://")  # PostgreSQL with pgvector (stores/postgres.py)
MILVUS_SCHEMES = ("milvus://", "http://", "https://")  # Milvus: a Milvus Lite file or a server (stores/milvus.py)


def is_milvus(store: str) -> bool:
    """``store`` names Milvus: ``milvus:///path/x.db`` or a ``.db`` file (Milvus Lite), ``http://host:19530``."""
    return store.startswith(MILVUS_SCHEMES) or (store.endswith(".db") and "://" not in store)


def redact_uri(uri: str) -> str:
    """``uri`` without its password (``postgresql://ann:***@db/x``), for every message that names a store."""
    uri = re.sub(r"^([a-z][a-z0-9+.-]*://[^/@:]*):[^/@]*@", r"\1:***@", uri, flags=re.IGNORECASE)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", uri, flags=re.IGNORECASE)


def check_top_k(top_k: int) -> int:
    """``top_k`` if it is a number of passages the assistant retrieves (1-100), else ``ConfigError``."""
    if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or not 1 <= top_k <= MAX_TOP_K:
        raise ConfigError(f"top_k must be between 1 and {MAX_TOP_K}, got {top_k}")
    return int(top_k)


@dataclass(frozen=True)
class Settings:
    """Everything that changes what the assistant does. Passed down, never global."""

    docs_dir: Path = Path("seeds")
    index_dir: Path = Path("index")
    # Where the index lives: "" = the local folder index_dir (FAISS, the default); "postgresql://user@host/db"
    # = PostgreSQL with pgvector, shared by many app processes and index workers; "http://host:19530" or
    # "milvus:///path/x.db" = Milvus (a server, or Milvus Lite in a file) (assistant/stores/).
    store: str = ""
    embed_model: str = "all-MiniLM-L6-v2"
    chunk_size: int = 240  # tokens per passage, counted by the embedding model's tokenizer (MiniLM reads 254)
    chunk_overlap: int = 32  # tokens shared by neighbouring passages
    top_k: int = 5  # passages retrieved per question
    vector_index: str = "exact"  # "hnsw": approximate FAISS search for large corpora (BENCHMARKS.md, "Scale")
    answer_mode: str = "extractive"
    refusal_threshold: float = DEFAULT_REFUSAL_THRESHOLD
    max_sentences: int = 2  # sentences quoted in one extractive answer
    max_file_mb: float = 20.0  # larger files are skipped when indexing
    follow_links_outside: bool = False  # read links in the documents folder that point outside it
    # Files uploaded in the browser or over the API go here, never into docs_dir (which may be a project
    # checkout); the index covers both. "" means <data_dir>/uploads/<collection>.
    uploads_dir: str = ""
    data_dir: str = ""  # the user's data folder ("" = the platform's, e.g. ~/.local/share/doc-assistant)
    # The collection's gold set (YAML, or JSONL when it ends in .jsonl): cases saved from the chat's 👍/👎 and by
    # `assistant gold import`, run by `assistant eval` without a file and by the browser's Evaluation tab.
    # "" means <data_dir>/gold/<collection>-<hash of index_dir>.yaml: never the checkout.
    gold_file: str = ""
    embed_batch_size: int = 32
    # How passages are embedded: "onnx" (ONNX Runtime: torch's vectors, faster; torch if it cannot run),
    # "torch", "onnx-int8" (int8 weights: faster still, other vectors, so an index re-embeds when switching
    # to or from it), "openai" (an OpenAI-compatible /v1/embeddings server at embed_url; key in
    # ASSISTANT_EMBED_API_KEY). BENCHMARKS.md, "Ingestion speed".
    embed_backend: str = "onnx"
    embed_url: str = ""  # embed_backend openai: the server's base URL, e.g. http://127.0.0.1:7997/v1
    onnx_cache_dir: str = ""  # where ONNX exports are kept ('' : ~/.cache/doc-assistant/onnx)
    parse_workers: int = 2  # processes reading files when a folder holds many (1: read in this process)
    show_progress: bool = True
    # Answer mode "llm": which model writes the answer (the extractive answerer stays the default).
    llm_backend: str = "local"  # local GGUF via llama-cpp-python, an OpenAI-compatible server, or Ollama
    # local: bundled "qwen2.5-0.5b" (Qwen2.5-Coder-0.5B-Instruct, chosen by the gold set), "smollm2", or a
    # .gguf path; a server: its model name
    llm_model: str = "qwen2.5-0.5b"
    llm_url: str = ""  # server base URL, e.g. http://127.0.0.1:8000/v1 (openai) or http://127.0.0.1:11434
    llm_max_tokens: int = 160
    llm_temperature: float = 0.0
    llm_context: int = 2048  # tokens of context the local model is loaded with
    llm_threads: int = 0  # CPU threads for the local model (0: all cores)
    prompts_dir: str = ""  # a folder of prompt templates overriding prompts/
    support_threshold: float = 0.5  # share of a generated sentence's words its cited sentence must hold
    # The reading model that decides whether a sentence answers (assistant/reader.py): "bundled" (the one
    # shipped in assistant/models), "off" (the hand rules alone), or the path of another .onnx file that
    # training/train_reader.py wrote. A sentence the reader finds answers with less than reader_threshold
    # probability is not quoted as a fact (calibrated on development data: BENCHMARKS.md, "Reader").
    reader: str = "bundled"
    reader_threshold: float = DEFAULT_READER_THRESHOLD

    def __post_init__(self) -> None:
        object.__setattr__(self, "docs_dir", Path(self.docs_dir))
        object.__setattr__(self, "index_dir", Path(self.index_dir))
        if self.chunk_size < 32:
            raise ConfigError(f"chunk_size must be at least 32 tokens, got {self.chunk_size}")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ConfigError(
                f"chunk_overlap must be between 0 and chunk_size ({self.chunk_size}), got {self.chunk_overlap}"
            )
        if self.store and not (self.store.startswith(STORE_SCHEMES) or is_milvus(self.store)):
            raise ConfigError(f"store must be empty (the index folder), a postgresql:// URI or a Milvus one "
                              f"(http://host:19530, milvus:///path/x.db), got {redact_uri(self.store)!r}")
        if self.vector_index not in ("exact", "hnsw"):
            raise ConfigError(f"vector_index must be exact or hnsw, got {self.vector_index!r}")
        check_top_k(self.top_k)
        if self.answer_mode not in ANSWER_MODES:
            raise ConfigError(
                f"answer_mode must be one of {', '.join(ANSWER_MODES)}, got {self.answer_mode!r}"
            )
        if not 0.0 <= self.refusal_threshold <= 1.0:
            raise ConfigError(f"refusal_threshold must be between 0 and 1, got {self.refusal_threshold}")
        if self.embed_batch_size < 1:
            raise ConfigError(f"embed_batch_size must be at least 1, got {self.embed_batch_size}")
        if self.embed_backend not in EMBED_BACKENDS:
            raise ConfigError(
                f"embed_backend must be one of {', '.join(EMBED_BACKENDS)}, got {self.embed_backend!r}")
        if self.embed_backend == "openai" and not self.embed_url:
            raise ConfigError("embed_backend openai needs embed_url (the embeddings server's address)")
        if not 1 <= self.parse_workers <= 64:
            raise ConfigError(f"parse_workers must be between 1 and 64, got {self.parse_workers}")
        if self.max_file_mb <= 0:
            raise ConfigError(f"max_file_mb must be more than 0, got {self.max_file_mb}")
        if self.llm_backend not in LLM_BACKENDS:
            raise ConfigError(f"llm_backend must be one of {', '.join(LLM_BACKENDS)}, got {self.llm_backend!r}")
        if self.llm_backend != "local" and self.answer_mode == "llm" and not self.llm_url:
            raise ConfigError(f"llm_backend {self.llm_backend} needs llm_url (the server's address)")
        if not 16 <= self.llm_max_tokens <= 4096:
            raise ConfigError(f"llm_max_tokens must be between 16 and 4096, got {self.llm_max_tokens}")
        if not 512 <= self.llm_context <= 32768:
            raise ConfigError(f"llm_context must be between 512 and 32768, got {self.llm_context}")
        if not 0.0 <= self.support_threshold <= 1.0:
            raise ConfigError(f"support_threshold must be between 0 and 1, got {self.support_threshold}")
        if not 0.0 <= self.reader_threshold <= 1.0:
            raise ConfigError(f"reader_threshold must be between 0 and 1, got {self.reader_threshold}")
        if not self.reader.strip():
            raise ConfigError("reader must be bundled, off, or the path of a reader .onnx file")
        if not 1 <= self.max_sentences <= 5:
            raise ConfigError(f"max_sentences must be between 1 and 5, got {self.max_sentences}")

    @classmethod
    def load(cls, config_file: str | Path | None = None, **overrides: Any) -> "Settings":
        """Build settings from a TOML file (``assistant.toml`` or ``$ASSISTANT_CONFIG``), env and kwargs."""
        values: dict[str, Any] = {}
        path = config_path(config_file)
        if path is not None:
            values.update(_read_toml(path))
        values.update(_read_env())
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**_coerce(values))

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **_coerce(changes))


# Tables of the config file that are not settings: read by collections.py (collections, API keys).
SECTIONS = ("collections", "api_keys")


def config_path(config_file: str | Path | None = None) -> Path | None:
    """The config file in use: ``config_file``, else ``$ASSISTANT_CONFIG``, else ``./assistant.toml`` if any."""
    path = config_file or os.environ.get("ASSISTANT_CONFIG")
    if path is None and Path("assistant.toml").is_file():
        path = "assistant.toml"
    return Path(path) if path is not None else None


def read_sections(config_file: str | Path | None = None) -> dict[str, Any]:
    """The config file's non-setting tables (``collections``, ``api_keys``), empty without a file."""
    path = config_path(config_file)
    if path is None:
        return {}
    return {k: v for k, v in _parse_toml(path).items() if k in SECTIONS}


UPLOADS = "uploads"  # the uploads folder's documents have ids "uploads/<file>"


def data_folder(settings: Settings) -> Path:
    """The user's data folder: ``data_dir``, else the platform's (``~/.local/share/doc-assistant``)."""
    if settings.data_dir:
        return Path(settings.data_dir).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("doc-assistant", appauthor=False))


def uploads_folder(settings: Settings, collection: str = "") -> Path:
    """Where uploads for these settings go: ``uploads_dir``, else ``<data folder>/uploads/NAME-HASH`` (the
    collection's or documents folder's name, and a hash of the index folder), never the documents folder."""
    if settings.uploads_dir:
        return Path(settings.uploads_dir).expanduser()
    return data_folder(settings) / UPLOADS / collection_key(settings, collection)


GOLD = "gold"  # the data folder's subfolder of the collections' gold files


def gold_path(settings: Settings, collection: str = "") -> Path:
    """The collection's gold file: ``gold_file``, else ``<data folder>/gold/NAME-HASH.yaml`` (named as its
    uploads folder is), never in the documents folder or the checkout."""
    if settings.gold_file:
        return Path(settings.gold_file).expanduser()
    return data_folder(settings) / GOLD / f"{collection_key(settings, collection)}.yaml"


def collection_key(settings: Settings, collection: str = "") -> str:
    """``NAME-HASH``: the collection's (or documents folder's) name and a hash of its index folder, which
    names its files in the data folder: two setups whose folders are both called "docs" never share them."""
    from hashlib import sha256

    index = Path(settings.index_dir).expanduser().resolve()
    name = collection or _collection_name(Path(settings.docs_dir).expanduser().resolve().name or "docs")
    return f"{name}-{sha256(str(index).encode()).hexdigest()[:8]}"


COLLECTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class Collection:
    """A named documents folder with its own index and uploads folder: ``[collections.NAME]`` in the config."""

    name: str
    settings: Settings


def collections(config_file: str | Path | None = None, **overrides: Any) -> dict[str, Collection]:
    """Every collection, the default first.

    The default is the settings' own documents folder (``seeds`` unless configured), named after it.
    Each ``[collections.NAME]`` table names its ``docs_dir`` and ``index_dir`` and may override any other
    setting for that collection; a table named like the default replaces it. Uploads go to
    ``uploads_dir``, else ``<data_dir>/uploads/NAME-HASH`` (``uploads_folder``); its gold set is ``gold_file``,
    else ``<data_dir>/gold/NAME-HASH.yaml`` (``gold_path``).
    """
    base = Settings.load(config_file, **overrides)
    default = _collection_name(Path(base.docs_dir).expanduser().resolve().name or "docs")
    tables = read_sections(config_file).get("collections", {})
    if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
        raise ConfigError("[collections.NAME] tables must each hold settings (docs_dir = ..., index_dir = ...)")
    out: dict[str, Collection] = {}
    for name, table in [(default, tables.get(default, {})), *((n, t) for n, t in tables.items() if n != default)]:
        if not COLLECTION_NAME.fullmatch(name):
            raise ConfigError(f"collection name {name!r} must be letters, digits, '_', '.' or '-' (no ':')")
        unknown = set(table) - set(_field_types())
        if unknown:
            raise ConfigError(f"collection {name} has unknown settings: {', '.join(sorted(unknown))}")
        if name != default and not {"docs_dir", "index_dir"} <= set(table):
            raise ConfigError(f"collection {name} needs docs_dir and index_dir (its own index folder)")
        settings = base.replace(**table)
        if not settings.uploads_dir:
            settings = settings.replace(uploads_dir=str(uploads_folder(settings, name)))
        if not settings.gold_file:
            settings = settings.replace(gold_file=str(gold_path(settings, name)))
        out[name] = Collection(name, settings)
    indexes = [c.settings.index_dir.expanduser().resolve() for c in out.values()]
    if len(set(indexes)) != len(indexes):
        raise ConfigError("two collections share one index_dir; give each collection its own")
    stores = [c.settings.store for c in out.values() if c.settings.store]
    if len(set(stores)) != len(stores):
        raise ConfigError("two collections share one store; give each collection its own database")
    return out


# Settings that shape the index or where files are kept: another value needs another index, not another
# way of answering from this one (Assistant.with_settings refuses them).
INDEX_SETTINGS = frozenset({"docs_dir", "index_dir", "store", "embed_model", "chunk_size", "chunk_overlap",
                            "vector_index", "embed_backend", "embed_url", "embed_batch_size", "onnx_cache_dir",
                            "max_file_mb", "follow_links_outside", "parse_workers", "uploads_dir", "data_dir",
                            "gold_file"})


def parse_overrides(text: str) -> dict[str, Any]:
    """``"top_k=10, answer_mode=llm"`` as ``{"top_k": 10, "answer_mode": "llm"}``, each value of its setting's
    type; "" is no override. ``ConfigError`` (one line) for an unknown setting or a value of another type."""
    out: dict[str, Any] = {}
    for part in re.split(r"[,;\n]", text or ""):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name or not value.strip():
            raise ConfigError(f"write each setting as name=value (like top_k=10), got {part.strip()!r}")
        if name not in _field_types():
            raise ConfigError(f"unknown setting {name!r}; settings such as top_k, answer_mode, reader, "
                              "refusal_threshold or max_sentences can be compared")
        out.update(_coerce({name: value.strip()}))
    return out


def _collection_name(folder_name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", folder_name).strip("-._") or "docs"
    return name[:64]


def _field_types() -> dict[str, Any]:
    return {f.name: f.type for f in fields(Settings)}


def _parse_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found; fix the path or remove ASSISTANT_CONFIG") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML ({exc}); fix it and retry") from None


def _read_toml(path: Path) -> dict[str, Any]:
    data = _parse_toml(path)
    data = data.get("assistant", data)  # accept a bare table or an [assistant] section
    data = {k: v for k, v in data.items() if k not in SECTIONS}
    unknown = set(data) - set(_field_types())
    if unknown:
        raise ConfigError(f"config file {path} has unknown settings: {', '.join(sorted(unknown))}")
    return data


def _read_env() -> dict[str, Any]:
    out = {}
    for name in _field_types():
        raw = os.environ.get(f"ASSISTANT_{name.upper()}")
        if raw is not None and raw != "":
            out[name] = raw
    return out


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    """Turn strings from env vars or CLI flags into each field's type."""
    types = _field_types()
    out = {}
    for name, value in values.items():
        if name not in types:
            raise ConfigError(f"unknown setting {name!r}")
        kind = types[name]
        try:
            if kind == "bool" and isinstance(value, str):
                word = value.strip().lower()
                if word not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                    raise ValueError(value)
                value = word in ("1", "true", "yes", "on")
            elif kind == "int":
                if isinstance(value, (bool, float)):
                    raise ValueError(value)
                value = int(value)
            elif kind == "float":
                value = float(value)
        except ValueError:
            raise ConfigError(f"setting {name} must be a {kind}, got {value!r}") from None
        out[name] = value
    return out
