"""A devnet provider's cluster when the Docker Engine is not there."""

from __future__ import annotations

from devnet.provider.chainview import LeaseID
from devnet.provider.cluster import DockerCluster


def test_without_an_engine_the_provider_starts_and_a_manifest_fails_with_an_event(tmp_path) -> None:
    cluster = DockerCluster("unix:///nonexistent/docker.sock", "nodocker", tmp_path / "leases")
    cluster.start_all()  # no Engine: nothing to start, and no exception
    cluster.stop_all()
    lease = LeaseID("akash1owner", 1, 1, 1, "akash1provider")
    cluster.deploy(lease, {"name": "dcloud", "services": [{"name": "web", "image": "x", "count": 1, "expose": []}]})
    cluster.settle()
    [event] = cluster.events(lease)
    assert event["type"] == "Warning" and event["note"].startswith("Error: the cluster does not answer")
