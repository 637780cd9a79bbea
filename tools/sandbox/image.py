"""Build the docker sandbox image without a registry: ``mmdebstrap`` makes a Debian rootfs tarball, ``docker import`` tags it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from turngym.tools.sandbox.base import SandboxError
from turngym.tools.sandbox.docker import DEFAULT_IMAGE, connect

PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
SUITE = re.compile(r"^[a-z][a-z0-9-]*$")
MMDEBSTRAP_TIMEOUT_S = 1800


def split_tag(tag: str) -> tuple[str, str]:
    """``"name:tag"`` -> ``("name", "tag")``; no tag means ``latest`` (a registry port is not a tag).

    >>> split_tag("turngym-sandbox")
    ('turngym-sandbox', 'latest')
    >>> split_tag("localhost:5000/sandbox:v1")
    ('localhost:5000/sandbox', 'v1')
    """
    if not isinstance(tag, str) or not tag or any(c.isspace() for c in tag):
        raise ValueError(f"tag: expected an image name such as 'turngym-sandbox:latest', got {tag!r}")
    name, sep, version = tag.rpartition(":")
    if not sep or "/" in version:
        return tag, "latest"
    return name, version


def check_packages(suite: str, include: Sequence[str]) -> None:
    if not isinstance(suite, str) or not SUITE.match(suite):
        raise ValueError(f"suite: expected a Debian suite name such as 'bookworm', got {suite!r}")
    bad = [name for name in include if not isinstance(name, str) or not PACKAGE.match(name)]
    if bad:
        raise ValueError(f"include: expected Debian package names (lowercase letters, digits, + . -), got {bad!r}")


def build_rootfs(
    tarball: Path, *, suite: str = "bookworm", include: Sequence[str] = (), log: Callable[[str], None] = print
) -> None:
    """Run ``mmdebstrap --variant=essential --include=python3,...`` into ``tarball``; SandboxError with its stderr on failure."""
    check_packages(suite, include)
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise SandboxError(
            "mmdebstrap is not installed; install it (Debian: apt-get install mmdebstrap) or pass an existing rootfs --tarball"
        )
    packages = ",".join(["python3", *[p for p in include if p != "python3"]])
    command = [mmdebstrap, "--quiet", "--variant=essential", f"--include={packages}", suite, str(tarball)]
    log(f"+ {' '.join(command)}")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=MMDEBSTRAP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise SandboxError(f"mmdebstrap did not finish within {MMDEBSTRAP_TIMEOUT_S} s") from None
    if done.returncode != 0 or not tarball.is_file():
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise SandboxError(f"mmdebstrap failed (exit status {done.returncode}); the end of its output:\n{tail}")


def import_rootfs(client: Any, tarball: Path, tag: str) -> str:
    """``docker import`` a rootfs tarball under ``tag``; returns the image id."""
    repository, version = split_tag(tag)
    api = client.api
    errors = []
    for line in api.import_image_from_file(str(tarball), repository=repository, tag=version).splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if "error" in message:
            errors.append(str(message["error"]))
    if errors:
        raise SandboxError(f"docker import of {tarball} failed: {'; '.join(errors)}")
    return client.images.get(tag).id


def build_image(
    tag: str = DEFAULT_IMAGE,
    *,
    include: Sequence[str] = (),
    suite: str = "bookworm",
    tarball: Path | None = None,
    rebuild: bool = False,
    docker_host: str | None = None,
    log: Callable[[str], None] = print,
) -> str:
    """Make the sandbox image ``tag`` on the local dockerd (nothing is pulled); returns its id.

    Skipped when ``tag`` exists, unless ``rebuild``. ``tarball``: a rootfs tarball to import; when
    it does not exist yet (or with ``rebuild``) mmdebstrap writes it there and it is kept, else a
    temp file is used and removed.
    """
    import docker.errors

    split_tag(tag)
    check_packages(suite, include)
    client = connect(docker_host)
    try:
        if not rebuild:
            try:
                image = client.images.get(tag)
                log(f"{tag} exists ({image.short_id}); pass --rebuild to build it again")
                return image.id
            except docker.errors.ImageNotFound:
                pass
        if tarball is not None and tarball.is_file() and not rebuild:
            log(f"importing the existing rootfs {tarball}")
            return import_rootfs(client, tarball, tag)
        with tempfile.TemporaryDirectory(prefix="turngym-image-") as scratch:
            target = tarball if tarball is not None else Path(scratch) / "rootfs.tar"
            target.parent.mkdir(parents=True, exist_ok=True)
            build_rootfs(target, suite=suite, include=include, log=log)
            log(f"importing {target} ({target.stat().st_size / 2**20:.0f} MiB) as {tag}")
            return import_rootfs(client, target, tag)
    finally:
        client.close()
