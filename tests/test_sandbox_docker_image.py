"""``turngym sandbox build-image`` on a real dockerd and mmdebstrap; a missing image named at sandbox construction."""

from __future__ import annotations

import io
import shutil
import tarfile
import uuid
from collections.abc import Iterator

import pytest
from sandbox_docker_helpers import client
from typer.testing import CliRunner

from turngym.cli.commands import app
from turngym.tools.sandbox import SandboxError
from turngym.tools.sandbox.docker import DockerSandbox

pytestmark = pytest.mark.docker

requires_mmdebstrap = pytest.mark.skipif(
    shutil.which("mmdebstrap") is None,
    reason="needs mmdebstrap: apt-get install mmdebstrap (scripts/test_services.sh installs it as root)",
)


@pytest.fixture
def tag() -> Iterator[str]:
    """A fresh image tag, removed afterwards."""
    name = f"turngym-test-image:{uuid.uuid4().hex[:12]}"
    yield name
    with client() as docker_client:
        for image in docker_client.images.list(name=name):
            docker_client.images.remove(image.id, force=True)


def test_a_missing_image_names_the_build_command():
    with pytest.raises(SandboxError, match=r"'turngym-no-such-image:1' not found .*turngym sandbox build-image --tag"):
        DockerSandbox(image="turngym-no-such-image:1")


def import_tiny_tarball(tag: str, tmp_path) -> str:
    """``build-image --tarball`` of a one-file rootfs as ``tag``; returns the image id it printed."""
    tarball = tmp_path / "rootfs.tar"
    with tarfile.open(tarball, "w") as archive:
        data = b"hello\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    first = CliRunner().invoke(app, ["sandbox", "build-image", "--tag", tag, "--tarball", str(tarball)])
    assert first.exit_code == 0, first.output
    return first.output.split()[-1]


def test_build_image_imports_a_tarball_once(tag, tmp_path):
    image_id = import_tiny_tarball(tag, tmp_path)
    with client() as docker_client:
        assert docker_client.images.get(tag).id == image_id
    again = CliRunner().invoke(app, ["sandbox", "build-image", "--tag", tag, "--tarball", str(tmp_path / "rootfs.tar")])
    assert again.exit_code == 0 and "exists" in again.output and again.output.split()[-1] == image_id


@requires_mmdebstrap
def test_a_failed_rebuild_keeps_the_old_image(tag, tmp_path):
    image_id = import_tiny_tarball(tag, tmp_path)
    runner = CliRunner()
    build_again = ["sandbox", "build-image", "--tag", tag, "--tarball", str(tmp_path / "new.tar"), "--rebuild"]
    rebuilt = runner.invoke(app, [*build_again, "--suite", "no-such-suite"])
    assert rebuilt.exit_code == 1
    assert "mmdebstrap failed (exit status" in rebuilt.output and "the end of its output" in rebuilt.output
    with client() as docker_client:
        assert docker_client.images.get(tag).id == image_id  # a failed rebuild leaves the old image


@pytest.mark.slow
@requires_mmdebstrap
def test_build_image_from_scratch_makes_a_working_sandbox_image(tag, tmp_path):
    tarball = tmp_path / "rootfs.tar"
    result = CliRunner().invoke(app, ["sandbox", "build-image", "--tag", tag, "--include", "busybox", "--tarball", str(tarball)])
    assert result.exit_code == 0, result.output
    assert tarball.stat().st_size > 50 * 2**20  # kept where asked
    with DockerSandbox(image=tag, pool_size=1) as sandbox:
        found = sandbox.run("import shutil, sys\nprint(shutil.which('busybox'), sys.version_info[0])")
    assert found.error is None and found.stdout.split()[1] == "3" and found.stdout.split()[0].endswith("/busybox"), found
