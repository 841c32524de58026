"""GitHub's webhook deliveries as the tests send them: the signature and the payloads."""

from __future__ import annotations

import hashlib
import hmac

from tests.github.examples import webhook_example
from tests.support.github import INSTALLATION_ID, REPO


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def push_payload(full_name: str, sha: str, branch: str = "main", clone_url: str = "", **extra) -> dict:
    return {
        "ref": f"refs/heads/{branch}",
        "before": "0" * 40,
        "after": sha,
        "deleted": False,
        "repository": {"full_name": full_name, "clone_url": clone_url},
        "head_commit": {"id": sha, "message": "change"},
        **extra,
    }


def account(login="acme", type_="Organization"):
    return {"login": login, "id": 9, "type": type_}


def installation_obj(installation_id=123, login="acme", suspended_at=None, selection="selected"):
    return {"id": installation_id, "account": account(login), "repository_selection": selection,
            "suspended_at": suspended_at, "app_id": 4242}


def repo(repo_id, full_name, private=True):
    return {"id": repo_id, "node_id": f"R_{repo_id}", "name": full_name.split("/")[1], "full_name": full_name,
            "private": private}


def installation_event(action, installation_id=123, login="acme", repositories=None, **inst):
    payload = {"action": action, "installation": installation_obj(installation_id, login, **inst),
               "sender": account("someone", "User")}
    if repositories is not None:
        payload["repositories"] = repositories
    return payload


def repositories_event(action, installation_id=123, added=(), removed=()):
    return {"action": action, "installation": installation_obj(installation_id),
            "repository_selection": "selected", "repositories_added": list(added),
            "repositories_removed": list(removed), "requester": None, "sender": account("someone", "User")}


def pr_payload(action: str, number: int, sha: str, *, repo: str = REPO, head_ref: str = "feature",
               head_repo: str | None = "", association: str = "OWNER", draft: bool = False,
               merged: bool = False, installation_id: int = INSTALLATION_ID) -> dict:
    """GitHub's example ``pull_request`` delivery for ``action``, pointed at ``repo``.

    ``head_repo`` "" means the base repository itself; None a deleted fork.
    """
    payload = webhook_example("pull_request", action, with_installation=True)
    owner, name = repo.split("/")
    pr = payload["pull_request"]
    payload["number"] = pr["number"] = number
    payload["repository"].update(full_name=repo, name=name)
    payload["repository"]["owner"]["login"] = owner
    payload["installation"]["id"] = installation_id
    pr["base"]["repo"].update(full_name=repo, name=name)
    pr["head"].update(sha=sha, ref=head_ref)
    if head_repo is None:
        pr["head"]["repo"] = None
    else:
        head_full = head_repo or repo
        pr["head"]["repo"].update(full_name=head_full, name=head_full.split("/")[1], fork=head_full != repo)
        pr["head"]["label"] = f"{head_full.split('/')[0]}:{head_ref}"
    pr.update(author_association=association, draft=draft)
    if action == "closed":
        pr.update(state="closed", merged=merged)
    return payload
