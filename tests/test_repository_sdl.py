"""A repository's own Akash SDL is read from the checkout as untrusted input: checked before the
build, refused with what to fix (no patching: the director reads a real directory)."""

from pathlib import Path

import pytest

from slipway.director import SDL_MAX_BYTES, Director
from slipway.errors import UserError
from tests.support.repository_sdl import REPOSITORY_SDL

SHA = "a" * 40


def read(checkout: Path, lines: list[str] | None = None) -> str:
    return Director(None, (lines if lines is not None else []).append, None).repository_sdl(checkout, SHA)


def refused(checkout: Path) -> UserError:
    with pytest.raises(UserError) as caught:
        read(checkout)
    return caught.value


def test_a_checkout_without_an_sdl_uses_the_projects_settings(tmp_path):
    assert read(tmp_path) == ""


def test_deploy_yaml_comes_first_and_its_slipway_service_is_named_in_the_log(tmp_path):
    (tmp_path / "sdl.yaml").write_text("not: used\n")
    (tmp_path / "deploy.yaml").write_text(REPOSITORY_SDL)
    lines: list[str] = []
    assert read(tmp_path, lines) == REPOSITORY_SDL
    assert lines == ["using the repository's deploy.yaml: Slipway's image runs as its service 'web'"]


@pytest.mark.parametrize("text,error_id,says", [
    ("version: [", UserError.AKASH_REPOSITORY_SDL, "not valid YAML"),
    ("version: '2.0'\n", UserError.AKASH_REPOSITORY_SDL, "services"),
    ("a: &x [1]\nb: *x\n", UserError.AKASH_REPOSITORY_SDL, "YAML aliases (*name) are not allowed"),
    (REPOSITORY_SDL.replace("image: slipway", "image: nginx"), UserError.AKASH_SDL_NO_SERVICE, "(services: web)"),
    ("x" * (SDL_MAX_BYTES + 1), UserError.AKASH_REPOSITORY_SDL, "larger than 64 KiB"),
])
def test_an_sdl_slipway_cannot_run_is_refused_with_what_to_fix(tmp_path, text, error_id, says):
    (tmp_path / "deploy.yml").write_text(text)
    error = refused(tmp_path)
    assert error.message_id == error_id and says in str(error) and "deploy.yml in commit aaaaaaa" in str(error)


def test_a_link_out_of_the_checkout_is_never_followed(tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text(REPOSITORY_SDL)
    checkout = tmp_path / "src"
    checkout.mkdir()
    (checkout / "deploy.yaml").symlink_to(outside)
    assert refused(checkout).message_id == UserError.BUILD_OUTSIDE_CHECKOUT
