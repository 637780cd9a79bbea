"""Clear errors from the docker sandbox and its CLI where no dockerd is needed: a wrong DOCKER_HOST, bad arguments."""

from __future__ import annotations

import doctest

import pytest
from typer.testing import CliRunner

from turngym.cli.commands import app
from turngym.tools.sandbox import SandboxError, image, make_sandbox
from turngym.tools.sandbox.docker import DockerSandbox
from turngym.tools.sandbox.image import build_rootfs

NOWHERE = "unix:///nonexistent/turngym/docker.sock"


def test_unreachable_daemon_names_docker_host_and_how_to_start_one(monkeypatch):
    with pytest.raises(SandboxError) as caught:
        DockerSandbox(docker_host=NOWHERE)
    message = str(caught.value)
    assert f"cannot reach dockerd at DOCKER_HOST={NOWHERE}" in message
    assert "dockerd --bridge=none" in message and "export DOCKER_HOST=" in message
    monkeypatch.setenv("DOCKER_HOST", NOWHERE)
    with pytest.raises(SandboxError, match=f"DOCKER_HOST={NOWHERE}"):
        make_sandbox("docker")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"pool_size": -1}, "pool_size: expected an integer >= 0, got -1"),
        ({"pool_size": 3, "max_containers": 2}, r"max_containers: expected an integer >= max\(1, pool_size=3\), got 2"),
    ],
)
def test_bad_pool_sizes_are_rejected_first(kwargs, expected):
    with pytest.raises(ValueError, match=expected):
        DockerSandbox(docker_host=NOWHERE, **kwargs)


def test_sweep_cli_reports_an_unreachable_daemon():
    result = CliRunner().invoke(app, ["sandbox", "sweep", "--docker-host", NOWHERE])
    assert result.exit_code == 1
    assert f"error: cannot reach dockerd at DOCKER_HOST={NOWHERE}" in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--include", "python3-numpy,Bad Name"], "include: expected Debian package names"),
        (["--suite", "../etc"], "suite: expected a Debian suite name such as 'bookworm', got '../etc'"),
        (["--tag", "has space:1"], "tag: expected an image name such as 'turngym-sandbox:latest', got 'has space:1'"),
    ],
)
def test_build_image_cli_rejects_bad_arguments_before_any_work(args, expected):
    result = CliRunner().invoke(app, ["sandbox", "build-image", "--docker-host", NOWHERE, *args])
    assert result.exit_code == 1
    assert expected in result.output


def test_build_image_without_dockerd_says_so():
    result = CliRunner().invoke(app, ["sandbox", "build-image", "--docker-host", NOWHERE])
    assert result.exit_code == 1 and f"DOCKER_HOST={NOWHERE}" in result.output


def test_missing_mmdebstrap_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxError, match=r"mmdebstrap is not installed; install it \(Debian: apt-get install mmdebstrap\)"):
        build_rootfs(tmp_path / "rootfs.tar")
    assert not (tmp_path / "rootfs.tar").exists()


def test_image_module_examples_run():
    result = doctest.testmod(image)
    assert result.attempted > 0 and result.failed == 0
