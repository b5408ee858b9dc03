"""The bundled sentence-transformers model as an ONNX file, exported once from its installed folder into the
user's cache, and optionally quantised to int8.

The export is ``torch.onnx.export`` of the model's transformer, giving the contextual token vectors
(``token_embeddings [batch, tokens, dim]``): the pooling, the sentence spans (``encode_spans``) and the
normalisation stay in ``embeddings.py``, the same code for torch and ONNX. sentence-transformers' own
``backend="onnx"`` needs ``optimum-onnx``, which pins transformers below 4.58 (this project runs 5.x), so it
is not used. Nothing is downloaded: the model is read from its folder, the files are written to

    $XDG_CACHE_HOME/doc-assistant/onnx/<sha256 of the model's weights and this exporter>/model.onnx
                                                                                       /model-int8.onnx

(``~/.cache`` without XDG_CACHE_HOME), each written to a temporary name and renamed into place, so two
processes exporting at once both end with a whole file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from .errors import ModelNotFoundError

EXPORT_VERSION = 2  # bump when the export below changes: cached files of older exports are not reused
OPSET = 17
FP32_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def cache_root() -> Path:
    """Where exported models live: ``$XDG_CACHE_HOME/doc-assistant/onnx`` (``~/.cache/...`` by default)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "doc-assistant" / "onnx"


def model_key(model_path: Path) -> str:
    """A name for one model's exports: the sha256 of its weights and config, the exporter and the runtimes."""
    import onnxruntime
    import torch

    digest = hashlib.sha256(f"v{EXPORT_VERSION} opset{OPSET} torch{torch.__version__} "
                            f"ort{onnxruntime.__version__}".encode())
    for name in ("config.json", "model.safetensors", "pytorch_model.bin"):
        path = model_path / name
        if path.is_file():
            with open(path, "rb") as fh:
                while block := fh.read(1 << 22):
                    digest.update(block)
    return digest.hexdigest()[:24]


def onnx_model(model_path: str | Path, quantized: bool = False, cache_dir: str | Path | None = None) -> Path:
    """The ONNX file of the model at ``model_path`` (fp32, or int8 with ``quantized``), exported on first use.

    Raises ``ModelNotFoundError`` (one line, what to do) when onnxruntime is missing or the export fails.
    """
    try:
        import onnx  # noqa: F401  (torch.onnx.export writes through it)
        import onnxruntime  # noqa: F401
    except ImportError:
        raise ModelNotFoundError("embed_backend onnx needs onnxruntime and onnx; run: pip install onnxruntime onnx "
                                 "(or set embed_backend = torch)") from None
    path = Path(model_path)
    folder = Path(cache_dir) if cache_dir else cache_root()
    folder = folder / model_key(path)
    fp32 = folder / FP32_FILE
    if not fp32.is_file():
        _write(fp32, lambda out: export(path, out))
    if not quantized:
        return fp32
    int8 = folder / INT8_FILE
    if not int8.is_file():
        _write(int8, lambda out: quantize(fp32, out))
    return int8


def _write(target: Path, make) -> None:
    """Run ``make(temporary path)`` and rename its result into ``target``; a failure leaves nothing behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        make(Path(tmp))
        os.replace(tmp, target)
    except ModelNotFoundError:
        raise
    except Exception as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise ModelNotFoundError(f"exporting the embedding model to ONNX failed ({exc.__class__.__name__}: "
                                 f"{first_line}); set embed_backend = torch") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def export(model_path: Path, out: Path) -> None:
    """``torch.onnx.export`` of the transformer at ``model_path``: token ids in, token vectors out, with
    batch and sequence length free."""
    import warnings

    import torch
    from transformers import AutoModel, AutoTokenizer

    class TokenVectors(torch.nn.Module):
        def __init__(self, transformer: torch.nn.Module):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                    token_type_ids=token_type_ids).last_hidden_state

    model = AutoModel.from_pretrained(str(model_path), local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_path), local_files_only=True)
    # two texts of different lengths: the traced graph must handle padding (checked against torch below)
    sample = tokenizer(["an example", "a longer example sentence, to pad the first"], padding=True, return_tensors="pt")
    args = tuple(sample[name] for name in INPUTS)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "token_embeddings")}
    # torch's answer on a batch of other shapes, taken before the export (which leaves the module changed)
    probe = tokenizer(["Short.", "A sentence of a different length, so the batch is padded. " * 3], padding=True,
                      return_tensors="pt")
    with torch.no_grad():
        want = model(**probe).last_hidden_state.numpy()
    raw = out.with_suffix(".raw")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer notes about shape-dependent Python code in transformers
            torch.onnx.export(TokenVectors(model), args, str(raw), input_names=list(INPUTS),
                              output_names=["token_embeddings"], dynamic_axes=axes, opset_version=OPSET, dynamo=False)
        fuse(raw, out, model.config)
    finally:
        raw.unlink(missing_ok=True)
    check(out, {name: probe[name].numpy() for name in INPUTS}, want)


def fuse(raw: Path, out: Path, config) -> None:
    """onnxruntime's transformer optimizer: attention, layer norm and GELU as fused kernels (the same
    arithmetic; about 1.1x faster on SciFact passages here, BENCHMARKS.md "Ingestion speed")."""
    from onnxruntime.transformers import optimizer

    fused = optimizer.optimize_model(str(raw), model_type="bert", num_heads=int(config.num_attention_heads),
                                     hidden_size=int(config.hidden_size))
    fused.save_model_to_file(str(out))


def check(onnx_file: Path, features: dict, want) -> None:
    """The exported graph gives torch's token vectors ``want`` for ``features`` (within 1e-4)."""
    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    got = session.run(None, features)[0]
    mask = features["attention_mask"].astype(bool)
    gap = float(np.abs(got - want)[mask].max())
    if gap > 1e-4:
        raise ValueError(f"the ONNX graph differs from torch by {gap:.2g}")


def quantize(fp32: Path, out: Path) -> None:
    """int8 weights, activations quantised at run time (onnxruntime's dynamic quantisation), one scale per
    output channel: one scale per matrix lost far more (cosine to fp32 on SciFact passages: mean 0.942, min
    0.910, against 0.994 / 0.988 per channel)."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # the fused kernels carry no type for shape inference: their outputs are float
    quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True,
                     extra_options={"DefaultTensorType": TensorProto.FLOAT})


def pooling_mode(model_path: str | Path) -> str:
    """The model's pooling ('mean', 'cls', ...) from its sentence-transformers config ('mean' if none)."""
    config = Path(model_path) / "1_Pooling" / "config.json"
    if not config.is_file():
        return "mean"
    data = json.loads(config.read_text(encoding="utf-8"))
    modes = [name for name in ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens")
             if data.get(f"pooling_mode_{name}")]
    return {"cls_token": "cls", "mean_tokens": "mean"}.get(modes[0], modes[0]) if len(modes) == 1 else "+".join(modes)
