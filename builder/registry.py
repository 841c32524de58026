"""The private registry's HTTP API (CNCF distribution v2): list tags, resolve, delete manifests.

Only what registry clean-up needs. Deleting a manifest unlinks it (and every tag that points at
it); the layers it used are freed later by the registry's own garbage collection
(``scripts/services.sh gc``), which is the only thing that may remove blobs.
"""

from __future__ import annotations

import requests

from builder.images import RegistryAuth

# Every single-image and multi-image manifest format, so the registry never converts a manifest
# (and its digest) to the old schema 1 when answering.
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.oci.image.index.v1+json"
)


class RegistryError(Exception):
    """The registry refused or could not be reached; ``status`` is its HTTP status (0 if none)."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


def split_reference(image: str, registry: str) -> tuple[str, str] | None:
    """``host/name:tag`` or ``host/name@sha256:...`` -> (name, tag or digest); None if another registry's."""
    prefix = registry.rstrip("/") + "/"
    if not image.startswith(prefix):
        return None
    rest = image[len(prefix):]
    if "@" in rest:
        name, _, reference = rest.partition("@")
    else:
        name, _, reference = rest.rpartition(":")
        if not name or "/" in reference:
            name, reference = rest, "latest"
    return (name, reference) if name and reference else None


class RegistryClient:
    """The registry over HTTP with Slipway's credentials (basic auth, as its htpasswd expects)."""

    def __init__(self, auth: RegistryAuth, scheme: str = "http", timeout_s: float = 30.0,
                 session: requests.Session | None = None):
        self._base = f"{scheme}://{auth.registry}/v2"
        self._auth = (auth.username, auth.password)
        self._timeout = timeout_s
        self._http = session or requests.Session()

    def _request(self, method: str, url: str, **kwargs) -> requests.Response:
        try:
            return self._http.request(method, url, auth=self._auth, timeout=self._timeout, **kwargs)
        except requests.RequestException as exc:
            # The exception's text names the URL only; credentials travel in a header.
            raise RegistryError(f"{method} {url}: {type(exc).__name__}") from None

    @staticmethod
    def _refuse(resp: requests.Response, what: str) -> RegistryError:
        try:
            errors = resp.json().get("errors") or []
            detail = "; ".join(str(e.get("message") or e.get("code")) for e in errors)
        except ValueError:
            detail = ""
        return RegistryError(f"{what}: HTTP {resp.status_code} {detail}".rstrip(), resp.status_code)

    def tags(self, repository: str) -> list[str]:
        """Every tag of ``repository`` (none if it does not exist)."""
        return self._pages(f"{self._base}/{repository}/tags/list?n=1000", "tags", f"listing the tags of {repository}")

    def repositories(self) -> list[str]:
        """Every repository the registry holds (the catalog; deleted ones stay listed, without tags)."""
        return self._pages(f"{self._base}/_catalog?n=1000", "repositories", "listing the repositories")

    def _pages(self, url: str, key: str, what: str) -> list[str]:
        found: list[str] = []
        while url:
            resp = self._request("GET", url)
            if resp.status_code == 404:
                return found
            if not resp.ok:
                raise self._refuse(resp, what)
            found.extend(resp.json().get(key) or [])
            url = resp.links.get("next", {}).get("url")
            if url and url.startswith("/"):
                url = self._base[: -len("/v2")] + url
        return found

    def digest(self, repository: str, reference: str) -> str | None:
        """The manifest digest a tag (or digest) names; None if the registry has no such manifest."""
        resp = self._request("HEAD", f"{self._base}/{repository}/manifests/{reference}",
                             headers={"Accept": MANIFEST_TYPES})
        if resp.status_code == 404:
            return None
        if not resp.ok:
            raise self._refuse(resp, f"resolving {repository}:{reference}")
        digest = resp.headers.get("Docker-Content-Digest")
        if not digest:
            raise RegistryError(f"resolving {repository}:{reference}: no Docker-Content-Digest header")
        return digest

    def delete(self, repository: str, digest: str) -> bool:
        """Delete a manifest and every tag pointing at it; False if it was already gone."""
        resp = self._request("DELETE", f"{self._base}/{repository}/manifests/{digest}")
        if resp.status_code == 404:
            return False
        if resp.status_code == 405:
            raise RegistryError("the registry does not allow deletes (storage.delete.enabled: false)", 405)
        if not resp.ok:
            raise self._refuse(resp, f"deleting {repository}@{digest}")
        return True

    def tag(self, repository: str, digest: str, tag: str) -> None:
        """Point ``tag`` at the manifest ``digest`` (the same bytes, put again under a tag)."""
        resp = self._request("GET", f"{self._base}/{repository}/manifests/{digest}",
                             headers={"Accept": MANIFEST_TYPES})
        if not resp.ok:
            raise self._refuse(resp, f"reading {repository}@{digest}")
        put = self._request("PUT", f"{self._base}/{repository}/manifests/{tag}", data=resp.content,
                            headers={"Content-Type": resp.headers.get("Content-Type", "")})
        if not put.ok:
            raise self._refuse(put, f"tagging {repository}@{digest} as {tag}")
