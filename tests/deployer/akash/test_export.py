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


def test_export_uses_the_installations_and_the_projects_resources_price_and_policy(settings):
    from dataclasses import replace

    from slipway.akash_settings import parse_akash_settings
    from slipway.settings import set_settings

    auditor = "akash1365yvmc4s7awdyj3n2sav7xfx76adc6dnmlx63"
    set_settings(replace(settings, akash_storage="3Gi", akash_max_price="77", akash_attributes="tier=community"))
    with session_scope() as s:
        own = parse_akash_settings({"cpu": "2", "memory": "1Gi", "auditors": auditor, "attributes": "region=us-west"})
        p = Project(name="shop", repo_url="x", target="akash", akash_settings=own)
        s.add(Deployment(project=p, sha="c" * 40, branch="main", trigger="push", state="live",
                         image=f"{settings.registry}/shop:ccccccc"))
    r = CliRunner().invoke(main, ["sdl", "export", "shop"])
    assert r.exit_code == 0, r.output
    data = parse_sdl(r.output.split("warning:")[0])
    resources = data["profiles"]["compute"]["shop"]["resources"]
    assert (resources["cpu"]["units"], resources["memory"]["size"], resources["storage"]["size"]) == ("2", "1Gi", "3Gi")
    placement = data["profiles"]["placement"]["akash"]
    assert placement["pricing"]["shop"] == {"denom": "uact", "amount": 77}
    assert placement["attributes"] == {"region": "us-west"}  # the project's replace the installation's
    assert placement["signedBy"] == {"anyOf": [auditor]}
