"""The SDL the Akash target deploys: the installation's settings, each replaced by the project's own
(Release.akash), or the repository's own SDL with the built image injected. No chain needed."""

import pytest

from deployer.akash.sdl import RegistryCredentials
from deployer.akash.target import AkashTarget, Policy, Resources
from deployer.base import Release
from slipway.errors import UserError
from tests.support.repository_sdl import REPOSITORY_SDL

CEDAR = "akash1" + "q" * 38
REGISTRY = RegistryCredentials(host="registry.example.com", username="slipway", password="pw-secret")
IMAGE = "registry.example.com/shop:abc"


def target() -> AkashTarget:
    # Only the SDL is built here: no wallets, signer, node or funding are used.
    return AkashTarget(network="local", wallets=None, signer=None, lcd=None, funding=None, registry=REGISTRY,
                       resources=Resources(cpu="0.5", memory="512Mi", storage="1Gi", max_price_uact=100),
                       policy=Policy(attributes={"tier": "community"}))


def test_the_projects_own_settings_replace_the_installations_and_the_rest_stay():
    own = {"cpu": "2", "gpu": 1, "gpu_model": "rtx4090", "max_price_uact": 500, "attributes": {"region": "eu"},
           "auditors": [CEDAR]}
    data = target().sdl(Release("shop", 1, IMAGE, akash=own))
    resources = data["profiles"]["compute"]["shop"]["resources"]
    assert resources["cpu"]["units"] == "2" and resources["memory"]["size"] == "512Mi"
    assert resources["gpu"] == {"units": 1, "attributes": {"vendor": {"nvidia": [{"model": "rtx4090"}]}}}
    placement = data["profiles"]["placement"]["akash"]
    assert placement["attributes"] == {"region": "eu"} and placement["signedBy"] == {"anyOf": [CEDAR]}
    assert placement["pricing"]["shop"]["amount"] == 500
    default = target().sdl(Release("shop", 1, IMAGE))
    assert default["profiles"]["placement"]["akash"]["attributes"] == {"tier": "community"}
    assert "gpu" not in default["profiles"]["compute"]["shop"]["resources"]


def test_a_repositorys_sdl_gets_the_image_the_login_and_the_projects_variables():
    data = target().sdl(Release("shop", 1, IMAGE, env={"GREETING": "from the project", "API": "k"},
                                sdl=REPOSITORY_SDL))
    web = data["services"]["web"]
    assert web["image"] == IMAGE and web["credentials"]["password"] == "pw-secret"
    assert web["env"] == ["PORT=8080", "GREETING=from the project", "API=k"]
    assert data["profiles"]["placement"]["akash"]["pricing"]["web"]["amount"] == 120  # the repository's price


def test_an_sdl_that_turned_invalid_is_refused_with_the_sdl_error():
    with pytest.raises(UserError) as refused:
        target().sdl(Release("shop", 1, IMAGE, sdl=REPOSITORY_SDL.replace("image: slipway", "image: nginx")))
    assert refused.value.message_id == UserError.AKASH_SDL and 'image: slipway' in str(refused.value)
