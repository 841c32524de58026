"""`slipway sdl export`: a project's SDL, valid for chain-sdk, with the password redacted by default."""

from click.testing import CliRunner

from deployer.akash.manifest import deployment_hash_hex
from deployer.akash.sdl import parse_sdl
from slipway.cli import main
from slipway.db import session_scope
from slipway.models import Deployment, Project
from tests.oracle import run_node


def make_project(image: str | None) -> None:
    with session_scope() as s:
        p = Project(name="shop", repo_url="x")
        s.add(Deployment(project=p, sha="c" * 40, branch="main", trigger="push", state="live", image=image))


def test_export_redacts_unless_asked_and_is_valid_for_chain_sdk(settings):
    image = f"{settings.registry}/shop:ccccccc"
    make_project(image)
    redacted = CliRunner().invoke(main, ["sdl", "export", "shop"])
    assert redacted.exit_code == 0, redacted.output
    assert settings.registry_password not in redacted.output
    revealed = CliRunner().invoke(main, ["sdl", "export", "shop", "--reveal"])
    sdl_text = revealed.output.split("warning:")[0]
    data = parse_sdl(sdl_text)
    svc = data["services"]["shop"]
    assert svc["image"] == image
    assert svc["credentials"] == {"host": settings.registry, "username": settings.registry_username,
                                  "password": settings.registry_password}
    assert "PORT=8080" in svc["env"]
    # The reference implementation accepts it and computes the same deployment hash.
    (ref,) = run_node("sdl_oracle.mjs", [{"yaml": sdl_text}])
    assert ref["genErrors"] is None, ref
    assert deployment_hash_hex(data) == ref["genHash"]


def test_export_warns_about_a_loopback_registry_and_needs_an_image(settings):
    make_project(None)
    r = CliRunner().invoke(main, ["sdl", "export", "shop"])
    assert r.exit_code == 1 and "no pushed image yet" in r.output
    r = CliRunner().invoke(main, ["sdl", "export", "shop", "--image", "127.0.0.1:5000/shop:abc"])
    assert r.exit_code == 0 and "cannot pull from it" in r.output
    r = CliRunner().invoke(main, ["sdl", "export", "nope"])
    assert r.exit_code == 1 and "no project named 'nope'" in r.output
