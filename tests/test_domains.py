"""Custom domains: what is refused (with what to fix), one project per name, and the project page."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from slipway.cli import main
from slipway.db import session_scope
from slipway.domains import add_domain
from slipway.errors import UserError
from slipway.models import Domain
from slipway.projects import ProjectSpec, create_project, get_project_by_name


@pytest.fixture
def shop(settings):
    with session_scope() as s:
        create_project(s, ProjectSpec(name="shop", repo_url="https://example.com/shop.git"))
        create_project(s, ProjectSpec(name="blog", repo_url="https://example.com/blog.git"))
    return "shop"


@pytest.mark.parametrize("name, problem", [
    ("shop", "give a full host name"),
    ("bad_name.example.com", "letters, digits and inner hyphens"),
    ("-x.example.com", "letters, digits and inner hyphens"),
    ("10.0.0.1", "not an IP address"),
    ("shop.localhost", "are Slipway's own"),
    ("a" * 64 + ".example.com", "at most 63"),
])
def test_a_name_that_cannot_be_a_domain_is_refused_with_what_to_fix(settings, shop, name, problem):
    with session_scope() as s, pytest.raises(UserError) as refused:
        add_domain(s, settings, get_project_by_name(s, shop), name)
    assert refused.value.message_id == UserError.DOMAIN_INVALID and problem in str(refused.value)


def test_a_domain_belongs_to_one_project_and_the_cli_says_so(settings, shop):
    runner = CliRunner()
    added = runner.invoke(main, ["domain", "add", "shop", "WWW.Example.COM."])
    assert added.exit_code == 0, added.output
    # A public name: Let's Encrypt, through Caddy, once its DNS points here.
    assert "https://www.example.com:" in added.output and "DNS points at this server" in added.output
    taken = runner.invoke(main, ["domain", "add", "blog", "www.example.com"])
    assert taken.exit_code != 0 and "already a domain of project shop" in taken.output
    assert "www.example.com" in runner.invoke(main, ["domain", "list", "shop"]).output
    missing = runner.invoke(main, ["domain", "remove", "blog", "www.example.com"])
    assert missing.exit_code != 0 and "is not a domain of blog" in missing.output
    assert runner.invoke(main, ["domain", "remove", "shop", "www.example.com"]).exit_code == 0
    with session_scope() as s:
        assert s.query(Domain).count() == 0


def test_the_project_page_adds_and_removes_domains(settings, shop, client):
    page = client.get("/projects/shop").get_data(as_text=True)
    token = page.split('name="csrf" value="')[1].split('"')[0]
    assert client.post("/projects/shop/domains", data={"csrf": "forged", "domain": "a.test"}).status_code == 400
    resp = client.post("/projects/shop/domains", data={"csrf": token, "domain": "shop.test"}, follow_redirects=True)
    text = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "https://shop.test:" in text and "internal CA" in text
    resp = client.post("/projects/shop/domains", data={"csrf": token, "domain": "not a name"}, follow_redirects=True)
    assert "cannot be a custom domain" in resp.get_data(as_text=True)
    resp = client.post("/projects/shop/domains/shop.test/remove", data={"csrf": token}, follow_redirects=True)
    assert "removed shop.test" in resp.get_data(as_text=True)
    with session_scope() as s:
        assert s.query(Domain).count() == 0
