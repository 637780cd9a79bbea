"""``turngym sandbox build-image | sweep``: the docker sandbox's image and leftover containers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

sandbox_app = typer.Typer(
    help="The docker code sandbox: build its image (no registry needed), remove leftover containers.",
    no_args_is_help=True,
    add_completion=False,
)

DockerHostOption = Annotated[
    str | None, typer.Option("--docker-host", help="dockerd address, e.g. unix:///tmp/d/docker.sock (default: DOCKER_HOST).")
]


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


@sandbox_app.command("build-image")
def build_image(
    tag: Annotated[str, typer.Option(help="Image name:tag to create.")] = "turngym-sandbox:latest",
    include: Annotated[str, typer.Option(help="Extra Debian packages, comma-separated (python3 is always in).")] = "",
    suite: Annotated[str, typer.Option(help="Debian suite for mmdebstrap.")] = "bookworm",
    tarball: Annotated[
        Path | None,
        typer.Option(help="Rootfs tarball: imported if it exists, else built there and kept.", dir_okay=False),
    ] = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Build even if the tag exists.")] = False,
    docker_host: DockerHostOption = None,
) -> None:
    """Build the sandbox image: mmdebstrap a minimal Debian with python3 into a tarball, then docker import it."""
    from turngym.tools.sandbox.base import SandboxError
    from turngym.tools.sandbox.image import build_image as build

    packages = [name.strip() for name in include.split(",") if name.strip()]
    try:
        image_id = build(
            tag, include=packages, suite=suite, tarball=tarball, rebuild=rebuild, docker_host=docker_host, log=typer.echo
        )
    except (SandboxError, ValueError, OSError) as exc:
        raise _fail(exc) from None
    typer.echo(f"{tag} {image_id}")


@sandbox_app.command()
def sweep(
    label: Annotated[str, typer.Option(help="Label the sandbox containers carry.")] = "turngym.sandbox",
    older_than: Annotated[
        float | None, typer.Option(help="Also remove containers older than this many seconds, owner alive or not.", min=0)
    ] = None,
    docker_host: DockerHostOption = None,
) -> None:
    """Remove sandbox containers whose owning process is gone (left by a crash or a kill -9)."""
    from turngym.tools.sandbox.base import SandboxError
    from turngym.tools.sandbox.docker import sweep as sweep_containers

    try:
        removed = sweep_containers(label, older_than, docker_host=docker_host)
    except SandboxError as exc:
        raise _fail(exc) from None
    typer.echo(f"removed {len(removed)} container(s)" + (f": {' '.join(removed)}" if removed else ""))
