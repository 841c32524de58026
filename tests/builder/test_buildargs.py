"""Which build stages get a project's build-time variables: never the stages the image is made of."""

import pytest

from builder.buildargs import stage_args, stages
from slipway.errors import UserError

VALUES = {"NPM_TOKEN": "tok-123456", "OTHER": "other-value"}


def test_only_the_stages_the_image_is_not_made_from_get_the_variables_they_declare():
    text = (
        "ARG NPM_TOKEN\n"  # before the first FROM: only FROM lines see it
        "FROM node AS deps\n"
        "ARG NPM_TOKEN=default\n"
        "RUN npm ci\n"
        "FROM deps AS build\n"
        "RUN npm run build\n"
        "FROM nginx\n"
        "COPY --from=build /app/dist /www\n"
    )
    chosen = stage_args(text, VALUES)
    assert chosen.passed == {"NPM_TOKEN": "tok-123456"}
    assert chosen.stages == {"deps": ["NPM_TOKEN"]}
    assert chosen.unused == ["OTHER"]


def test_docker_parser_rules_hold_continuations_comments_and_lower_case():
    text = "from node as Build\n# ARG OTHER\narg \\\n  NPM_TOKEN\nfrom scratch\ncopy --from=build / /\n"
    assert [(s.name, sorted(s.args)) for s in stages(text)] == [("build", ["NPM_TOKEN"]), (None, [])]
    assert stage_args(text, VALUES).passed == {"NPM_TOKEN": "tok-123456"}


@pytest.mark.parametrize("text, where", [
    ("FROM busybox\nARG NPM_TOKEN\nRUN true\n", "the final stage (line 2)"),
    ("FROM busybox AS deps\nARG OTHER\nRUN true\nFROM deps\nCOPY . /app\n",
     "stage deps, which the final stage is built FROM (line 2)"),
    ("FROM busybox AS a\nARG OTHER\nFROM a AS b\nFROM b\n", "stage a, which the final stage is built FROM (line 2)"),
])
def test_a_variable_declared_where_the_image_would_keep_it_is_refused(text, where):
    with pytest.raises(UserError) as caught:
        stage_args(text, VALUES, path="app/Dockerfile", sha="abcdef0123")
    assert caught.value.message_id == UserError.BUILD_SECRET_IN_IMAGE_STAGE
    message = str(caught.value)
    assert where in message and "app/Dockerfile in commit abcdef0" in message
    assert "tok-123456" not in message and "other-value" not in message


def test_without_build_variables_nothing_is_parsed():
    assert stage_args("FROM busybox\nARG NPM_TOKEN\n\\", {}).passed == {}


def test_a_dockerfile_docker_cannot_parse_fails_the_build_saying_so():
    with pytest.raises(UserError) as caught:
        stage_args("FROM busybox\nRUN <<EOF\n", VALUES)
    assert caught.value.message_id == UserError.BUILD_FAILED and "cannot be parsed" in str(caught.value)
