"""Build-time variables reach the build stages, and a secret one is nowhere in the pushed image.

The image is read back from the real registry: manifest, config (history included) and every
file of every layer.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
import requests

from deployer.local import LABEL_PROJECT
from slipway.db import session_scope
from slipway.envvars import set_vars
from slipway.models import Project
from tests.support.pipeline import deploy, everything_stored, log_of
from tests.support.registry_image import pushed_image

pytestmark = pytest.mark.docker

SECRET = "npm-token-7f3a9c1e55d2"
RUNTIME_SECRET = "runtime-only-4b8e2d"


def multi_stage(registry: str) -> str:
    return (
        f"FROM {registry}/base/busybox:latest AS build\n"
        "ARG API_TOKEN\n"
        "ARG RUNTIME_SECRET\n"
        # What the build stage makes from the secret, without the secret: its hash.
        "RUN mkdir /out && echo -n \"$API_TOKEN\" | sha256sum | cut -d' ' -f1 > /out/derived"
        " && echo \"${RUNTIME_SECRET:-not given}\" > /out/runtime-seen\n"
        f"FROM {registry}/base/busybox:latest\n"
        "COPY --from=build /out /www\n"
        'CMD ["sh", "-c", "exec busybox httpd -f -p \\"$PORT\\" -h /www"]\n'
    )


def set_project_vars(name: str, values: dict[str, str], scope: str) -> None:
    with session_scope() as s:
        set_vars(s, s.query(Project).filter_by(name=name).one(), values, scope)


def test_a_build_secret_reaches_the_build_stage_and_nothing_of_the_pushed_image(
        settings, site, send_webhook, run_worker, docker_client):
    set_project_vars(site.name, {"API_TOKEN": SECRET}, "build")
    set_project_vars(site.name, {"RUNTIME_SECRET": RUNTIME_SECRET}, "runtime")
    dep = deploy(send_webhook, run_worker, site, {"Dockerfile": multi_stage(settings.registry)})
    log = log_of(dep.id)
    assert dep.state == "live", f"{dep.error_message}\n{log}"

    # The build stage had the value: the app serves what it made of it.
    assert requests.get(f"{dep.url}/derived", timeout=5).text.strip() == hashlib.sha256(SECRET.encode()).hexdigest()
    # A runtime variable is not the build's, even where a build stage declares it.
    assert requests.get(f"{dep.url}/runtime-seen", timeout=5).text == "not given\n"
    assert "build-time variables for stage build: API_TOKEN" in log

    image = pushed_image(settings, dep.image)
    forms = [SECRET.encode(), base64.b64encode(SECRET.encode())]
    for what, data in image.everything():
        for form in forms:
            assert form not in data, f"the secret is in the pushed image's {what}"
    assert b"API_TOKEN" not in image.config  # not even its name: no ARG of the image's stages
    files = image.files()
    assert files["/www/derived"].strip().decode() == hashlib.sha256(SECRET.encode()).hexdigest()
    assert not any(SECRET.encode() in content for content in files.values())

    # The running app does not get a build-only variable; it gets its runtime one.
    (container,) = docker_client.containers.list(filters={"label": f"{LABEL_PROJECT}={site.name}"})
    env = container.attrs["Config"]["Env"]
    assert f"RUNTIME_SECRET={RUNTIME_SECRET}" in env and not any(e.startswith("API_TOKEN=") for e in env)
    # Nowhere in clear in Slipway's own records either (the log, the deployment, the queue's job).
    assert SECRET not in log and SECRET not in everything_stored()


def test_a_dockerfile_whose_final_stage_declares_a_build_secret_is_refused(
        settings, site, send_webhook, run_worker):
    set_project_vars(site.name, {"API_TOKEN": SECRET}, "both")
    dep = deploy(send_webhook, run_worker, site, {
        "Dockerfile": f"FROM {settings.registry}/base/busybox:latest\nARG API_TOKEN\nRUN echo $API_TOKEN > /t\n",
    })
    assert (dep.state, dep.error_id) == ("failed", "build:user:secret-in-image-stage")
    assert "declares ARG API_TOKEN in the final stage (line 2)" in dep.error_message
    assert SECRET not in dep.error_message and SECRET not in log_of(dep.id)
    assert dep.image is None


def test_the_inspection_finds_a_build_argument_the_final_stage_declares(settings, tmp_path, docker_client):
    """The control: what Slipway refuses does leak, and reading the pushed image back shows it."""
    import uuid

    from builder.images import DockerImageBuilder, RegistryAuth

    (tmp_path / "Dockerfile").write_text(
        f"FROM {settings.registry}/base/busybox:latest\nARG API_TOKEN\nRUN echo building > /built\n")
    tag = f"{settings.registry}/leak-{uuid.uuid4().hex[:8]}:test"
    for _ in docker_client.api.build(path=str(tmp_path), tag=tag, buildargs={"API_TOKEN": SECRET},
                                     network_mode="host", rm=True, decode=True):
        pass
    auth = RegistryAuth(settings.registry, settings.registry_username, settings.registry_password)
    DockerImageBuilder(settings.build_docker_host, auth).push(tag, lambda line: None)
    image = pushed_image(settings, tag)
    assert SECRET.encode() in image.config  # in the history: "|1 API_TOKEN=... /bin/sh -c echo building ..."
    docker_client.images.remove(tag)
