"""Settings: defaults, then a TOML file, then ASSISTANT_* env vars, then keyword arguments."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from assistant import Settings
from assistant.config import DEFAULT_REFUSAL_THRESHOLD
from assistant.errors import AssistantError, ConfigError

DEFAULTS = {
    "docs_dir": Path("seeds"),
    "index_dir": Path("index"),
    "store": "",
    "embed_model": "all-MiniLM-L6-v2",
    "chunk_size": 240,
    "chunk_overlap": 32,
    "top_k": 5,
    "vector_index": "exact",
    "answer_mode": "extractive",
    "refusal_threshold": DEFAULT_REFUSAL_THRESHOLD,
    "max_sentences": 2,
    "max_file_mb": 20.0,
    "follow_links_outside": False,
    "uploads_dir": "",
    "data_dir": "",
    "gold_file": "",
    "embed_batch_size": 32,
    "embed_backend": "onnx",
    "embed_url": "",
    "onnx_cache_dir": "",
    "parse_workers": 2,
    "show_progress": True,
    "llm_backend": "local",
    "llm_model": "qwen2.5-0.5b",
    "llm_url": "",
    "llm_max_tokens": 160,
    "llm_temperature": 0.0,
    "llm_context": 2048,
    "llm_threads": 0,
    "prompts_dir": "",
    "support_threshold": 0.5,
    "reader": "bundled",
    "reader_threshold": 0.0,
}


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """An empty working folder: no assistant.toml unless a test writes one."""
    monkeypatch.chdir(tmp_path)


def test_defaults():
    assert dataclasses.asdict(Settings()) == DEFAULTS
    assert dataclasses.asdict(Settings.load()) == DEFAULTS
    assert 0.0 < DEFAULT_REFUSAL_THRESHOLD < 1.0  # calibrated value: see BENCHMARKS.md


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().top_k = 3  # type: ignore[misc]


def test_paths_are_paths():
    settings = Settings(docs_dir="docs", index_dir="/tmp/idx")
    assert (settings.docs_dir, settings.index_dir) == (Path("docs"), Path("/tmp/idx"))


def test_env_vars(monkeypatch):
    monkeypatch.setenv("ASSISTANT_TOP_K", "3")
    monkeypatch.setenv("ASSISTANT_REFUSAL_THRESHOLD", "0.3")
    monkeypatch.setenv("ASSISTANT_SHOW_PROGRESS", "no")
    monkeypatch.setenv("ASSISTANT_EMBED_MODEL", "fake-hash")
    monkeypatch.setenv("ASSISTANT_DOCS_DIR", "/data/docs")
    monkeypatch.setenv("ASSISTANT_MAX_FILE_MB", "1.5")
    monkeypatch.setenv("ASSISTANT_CHUNK_SIZE", "")  # empty means unset
    assert dataclasses.asdict(Settings.load()) == {
        **DEFAULTS, "top_k": 3, "refusal_threshold": 0.3, "show_progress": False, "embed_model": "fake-hash",
        "docs_dir": Path("/data/docs"), "max_file_mb": 1.5,
    }


@pytest.mark.parametrize("raw, value", [("1", True), ("true", True), ("Yes", True), (" on ", True),
                                        ("0", False), ("false", False), ("off", False), ("no", False)])
def test_env_bool(monkeypatch, raw, value):
    monkeypatch.setenv("ASSISTANT_SHOW_PROGRESS", raw)
    assert Settings.load().show_progress is value


def test_toml_file_with_assistant_section(tmp_path):
    path = tmp_path / "my.toml"
    path.write_text(
        '[assistant]\ntop_k = 7\nembed_model = "fake-hash"\nshow_progress = false\nrefusal_threshold = 0.5\n'
        '[other]\nignored = true\n',
        encoding="utf-8",
    )
    assert dataclasses.asdict(Settings.load(path)) == {
        **DEFAULTS, "top_k": 7, "embed_model": "fake-hash", "show_progress": False, "refusal_threshold": 0.5,
    }


def test_toml_bare_table(tmp_path):
    (tmp_path / "bare.toml").write_text("chunk_size = 128\nchunk_overlap = 16\n", encoding="utf-8")
    settings = Settings.load(tmp_path / "bare.toml")
    assert (settings.chunk_size, settings.chunk_overlap) == (128, 16)


def test_assistant_toml_in_the_working_folder_is_read(tmp_path):
    (tmp_path / "assistant.toml").write_text("[assistant]\ntop_k = 9\n", encoding="utf-8")
    assert Settings.load().top_k == 9


def test_config_file_from_env(tmp_path, monkeypatch):
    (tmp_path / "elsewhere.toml").write_text("[assistant]\ntop_k = 11\n", encoding="utf-8")
    (tmp_path / "assistant.toml").write_text("[assistant]\ntop_k = 9\n", encoding="utf-8")
    monkeypatch.setenv("ASSISTANT_CONFIG", str(tmp_path / "elsewhere.toml"))
    assert Settings.load().top_k == 11


def test_precedence_file_then_env_then_kwargs(tmp_path, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text("[assistant]\ntop_k = 7\nmax_sentences = 3\nchunk_size = 128\n", encoding="utf-8")
    monkeypatch.setenv("ASSISTANT_TOP_K", "4")
    monkeypatch.setenv("ASSISTANT_MAX_SENTENCES", "4")
    settings = Settings.load(path, top_k=2, max_sentences=None)  # None means "not given"
    assert (settings.top_k, settings.max_sentences, settings.chunk_size) == (2, 4, 128)


def test_kwargs_strings_are_coerced():
    settings = Settings.load(top_k="3", show_progress="false", refusal_threshold="0.25")
    assert (settings.top_k, settings.show_progress, settings.refusal_threshold) == (3, False, 0.25)


def test_replace_validates_and_coerces():
    settings = Settings().replace(top_k="8", index_dir="elsewhere")
    assert (settings.top_k, settings.index_dir) == (8, Path("elsewhere"))
    with pytest.raises(ConfigError, match="top_k must be between 1 and 100, got 0"):
        Settings().replace(top_k=0)
    with pytest.raises(ConfigError, match="unknown setting 'topk'"):
        Settings().replace(topk=3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"chunk_size": 16}, "chunk_size must be at least 32 tokens, got 16"),
        ({"chunk_overlap": 240}, "chunk_overlap must be between 0 and chunk_size (240), got 240"),
        ({"chunk_overlap": -1}, "chunk_overlap must be between 0 and chunk_size (240), got -1"),
        ({"top_k": 0}, "top_k must be between 1 and 100, got 0"),
        ({"top_k": 101}, "top_k must be between 1 and 100, got 101"),
        ({"answer_mode": "poetry"}, "answer_mode must be one of extractive, llm, got 'poetry'"),
        ({"refusal_threshold": 1.5}, "refusal_threshold must be between 0 and 1, got 1.5"),
        ({"refusal_threshold": -0.1}, "refusal_threshold must be between 0 and 1, got -0.1"),
        ({"max_sentences": 0}, "max_sentences must be between 1 and 5, got 0"),
        ({"max_sentences": 6}, "max_sentences must be between 1 and 5, got 6"),
    ],
)
def test_invalid_values(kwargs, message):
    with pytest.raises(ConfigError) as info:
        Settings.load(**kwargs)
    assert str(info.value) == message
    assert isinstance(info.value, AssistantError)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"embed_batch_size": 0}, "embed_batch_size"),  # sentence-transformers: range() arg 3 must not be zero
        ({"max_file_mb": -1}, "max_file_mb"),  # every file would be "larger than -1 MB"
    ],
)
def test_out_of_range_values_without_a_check(kwargs, fragment):
    """Settings checks most fields but not these; the bad value surfaces later as an internal error
    (or every document skipped) instead of a ConfigError naming the setting."""
    with pytest.raises(ConfigError, match=fragment):
        Settings.load(**kwargs)


@pytest.mark.parametrize("raw", ["maybe", "ture", "2"])
def test_invalid_bool_is_an_error_not_false(monkeypatch, raw):
    """Any string other than 1/true/yes/on silently becomes False, so a typo turns a setting off."""
    monkeypatch.setenv("ASSISTANT_SHOW_PROGRESS", raw)
    with pytest.raises(ConfigError, match="show_progress"):
        Settings.load()


@pytest.mark.parametrize(
    "name, raw, message",
    [
        ("ASSISTANT_TOP_K", "three", "setting top_k must be a int, got 'three'"),
        ("ASSISTANT_TOP_K", "3.5", "setting top_k must be a int, got '3.5'"),
        ("ASSISTANT_REFUSAL_THRESHOLD", "high", "setting refusal_threshold must be a float, got 'high'"),
        ("ASSISTANT_CHUNK_SIZE", "8", "chunk_size must be at least 32 tokens, got 8"),
    ],
)
def test_invalid_env_values(monkeypatch, name, raw, message):
    monkeypatch.setenv(name, raw)
    with pytest.raises(ConfigError) as info:
        Settings.load()
    assert str(info.value) == message


def test_unknown_env_vars_are_ignored(monkeypatch):
    monkeypatch.setenv("ASSISTANT_DEBUG", "1")
    monkeypatch.setenv("ASSISTANT_NOT_A_SETTING", "x")
    assert dataclasses.asdict(Settings.load()) == DEFAULTS


def test_toml_errors(tmp_path):
    with pytest.raises(ConfigError, match="config file .*missing.toml not found"):
        Settings.load(tmp_path / "missing.toml")
    (tmp_path / "broken.toml").write_text("[assistant\ntop_k = ", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not valid TOML") as info:
        Settings.load(tmp_path / "broken.toml")
    assert "\n" not in str(info.value)
    (tmp_path / "unknown.toml").write_text("[assistant]\ntop_k = 3\ntopk = 4\ncolour = 'red'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="has unknown settings: colour, topk"):
        Settings.load(tmp_path / "unknown.toml")
    (tmp_path / "badtype.toml").write_text("[assistant]\ntop_k = 'lots'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="setting top_k must be a int, got 'lots'"):
        Settings.load(tmp_path / "badtype.toml")


def test_toml_float_for_an_int_setting_is_an_error(tmp_path):
    """``int(3.7)`` is 3: a float in the TOML file is silently truncated, while "3.7" in the env is an error."""
    (tmp_path / "f.toml").write_text("[assistant]\ntop_k = 3.7\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="top_k"):
        Settings.load(tmp_path / "f.toml")


def test_doctest_example():
    assert Settings(top_k=3).top_k == 3


# ------------------------------------------------------------------ collections


def test_without_collections_the_documents_folder_is_the_one_collection(tmp_path):
    from assistant.config import collections

    found = collections(docs_dir=tmp_path / "papers", index_dir=tmp_path / "idx", data_dir=tmp_path / "data")
    assert list(found) == ["papers"]
    assert found["papers"].settings.docs_dir == tmp_path / "papers"
    assert Path(found["papers"].settings.uploads_dir).parent == tmp_path / "data" / "uploads"
    assert Path(found["papers"].settings.uploads_dir).name.startswith("papers-")


def test_collections_from_the_config_file(tmp_path):
    from assistant.config import collections

    config = tmp_path / "assistant.toml"
    config.write_text(f"""
top_k = 4
data_dir = "{tmp_path / 'data'}"

[collections.papers]
docs_dir = "{tmp_path / 'papers'}"
index_dir = "{tmp_path / 'papers-index'}"
answer_mode = "llm"

[collections.mail]
docs_dir = "{tmp_path / 'mail'}"
index_dir = "{tmp_path / 'mail-index'}"
uploads_dir = "{tmp_path / 'mail-uploads'}"
""", encoding="utf-8")
    found = collections(config)
    assert list(found) == ["seeds", "papers", "mail"]  # the seed folder stays the default
    assert found["papers"].settings.top_k == 4 and found["papers"].settings.answer_mode == "llm"
    assert found["seeds"].settings.answer_mode == "extractive"
    assert Path(found["papers"].settings.uploads_dir).parent == tmp_path / "data" / "uploads"
    assert Path(found["papers"].settings.uploads_dir).name.startswith("papers-")
    assert len({c.settings.uploads_dir for c in found.values()}) == 3
    # each collection's gold set is a file of its own in the data folder, named as its uploads folder
    gold = {name: Path(c.settings.gold_file) for name, c in found.items()}
    assert gold["papers"] == tmp_path / "data" / "gold" / f"{Path(found['papers'].settings.uploads_dir).name}.yaml"
    assert len(set(gold.values())) == 3 and all(p.parent == tmp_path / "data" / "gold" for p in gold.values())
    assert Path(found["mail"].settings.uploads_dir) == tmp_path / "mail-uploads"
    assert Settings.load(config).top_k == 4  # the settings reader skips the collection tables


@pytest.mark.parametrize("table,message", [
    ('[collections."bad:name"]\ndocs_dir = "a"\nindex_dir = "b"', "must be letters"),
    ('[collections.x]\ndocs_dir = "a"', "needs docs_dir and index_dir"),
    ('[collections.x]\ndocs_dir = "a"\nindex_dir = "index"', "share one index_dir"),
    ('[collections.x]\ndocs_dir = "a"\nindex_dir = "b"\ncolour = "red"', "unknown settings: colour"),
    ('collections = 3', "must each hold settings"),
])
def test_bad_collections_are_one_line_errors(tmp_path, monkeypatch, table, message):
    from assistant.config import collections

    monkeypatch.chdir(tmp_path)
    (tmp_path / "assistant.toml").write_text(table, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        collections()


def test_api_keys_from_config_and_env(tmp_path):
    from assistant.api.keys import ApiKeys, Denied, digest

    config = tmp_path / "assistant.toml"
    config.write_text(f'[api_keys]\n"sk-a" = ["seeds"]\n"sha256:{digest("sk-hashed")}" = ["*"]\n', encoding="utf-8")
    keys = ApiKeys.load(config, env={"ASSISTANT_API_KEYS": "sk-env=papers,mail; sk-all=*"})
    assert keys.configured
    assert keys.check("Bearer sk-a", "10.0.0.7").visible(["seeds", "papers"]) == ["seeds"]
    assert keys.check("bearer sk-hashed", "10.0.0.7").may_use("anything")
    assert keys.check("Bearer sk-env", "127.0.0.1").visible(["seeds", "papers", "mail"]) == ["papers", "mail"]
    for header in (None, "", "Bearer", "Basic sk-a", "Bearer sk-nope"):
        with pytest.raises(Denied) as caught:
            keys.check(header, "127.0.0.1")
        assert caught.value.status == 401 and "sk-" not in str(caught.value)  # a key is never echoed


def test_without_keys_only_loopback_clients_are_served():
    from assistant.api.keys import ApiKeys, Denied

    keys = ApiKeys.load(env={})
    assert not keys.configured
    for host in ("127.0.0.1", "::1", "127.8.9.10", "localhost"):
        assert keys.check(None, host).may_use("seeds")
    for host in ("10.1.2.3", "192.168.0.5", "2001:db8::1", None, ""):
        with pytest.raises(Denied) as caught:
            keys.check("Bearer anything", host)
        assert caught.value.status == 403


@pytest.mark.parametrize("value,message", [
    ("novalue", "must look like KEY=collection"),
    ("=seeds", "must look like KEY=collection"),
])
def test_bad_api_key_env_is_a_one_line_error(value, message):
    from assistant.api.keys import ApiKeys

    with pytest.raises(ConfigError, match=message):
        ApiKeys.load(env={"ASSISTANT_API_KEYS": value})
