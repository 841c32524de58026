"""Error ids are attributes of their family, checked against the catalogue when Slipway starts."""

from __future__ import annotations

import pytest

from slipway.errors import MESSAGES, AppError, UserError, check_families


def test_every_message_is_named_by_one_family_and_every_name_has_a_message():
    check_families((UserError, AppError), MESSAGES)
    assert UserError(UserError.BUILD_TIME_OUT, seconds=5).message_id == "build:user:time-out"


def test_a_mistyped_id_fails_the_check():
    class Typo(UserError):
        BUILD_TIME_OUT = "build:user:timeout"

    with pytest.raises(ImportError, match="Typo.BUILD_TIME_OUT = 'build:user:timeout' has no text"):
        check_families((Typo, AppError), MESSAGES)


def test_an_id_on_the_wrong_family_fails_the_check():
    class Misplaced(AppError):
        NO_DOCKERFILE = "build:user:no-dockerfile"

    with pytest.raises(ImportError, match="names the other family"):
        check_families((UserError, Misplaced), MESSAGES)


def test_a_message_no_family_names_fails_the_check():
    with pytest.raises(ImportError, match="build:user:orphan"):
        check_families((UserError, AppError), {**MESSAGES, "build:user:orphan": "Nobody raises this."})

