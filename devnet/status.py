"""`slipway devnet status`: read from the devnet's SQLite state (the node may be running)."""

from __future__ import annotations

from collections import Counter

from deployer.akash.proto.akash.deployment.v1.deployment_pb2 import Deployment
from deployer.akash.proto.akash.market.v1.lease_pb2 import Lease
from deployer.akash.proto.akash.provider.v1beta4.provider_pb2 import Provider
from devnet import app as appmod
from devnet import config
from devnet.keys import provider_wallet
from devnet.node import db_path, is_running
from devnet.store import Cache, GasMeter, Store
from slipway.settings import Settings


def summary(settings: Settings) -> list[str]:
    path = db_path(settings)
    running = is_running(settings)
    where = f"REST http://127.0.0.1:{settings.devnet_port_n}" if running else "not running"
    if not path.exists():
        return [f"devnet: no chain yet under {settings.devnet_path} ({where}); `slipway devnet` creates it"]
    store = Store(path)
    try:
        s = Cache(store, GasMeter(None))
        height = int((s.get(appmod.K_HEIGHT) or b"0").decode())
        accounts = len(s.keys("auth/"))
        deployments = Counter(Deployment.State.Name(d.state) for _, d in s.iter_msgs("deployment/", Deployment))
        leases = Counter(Lease.State.Name(le.state) for _, le in s.iter_msgs("lease/", Lease))
        providers = [p for _, p in s.iter_msgs("provider/", Provider)]
        names = {str(p.owner): p for p in providers}
        lines = [
            f"devnet: chain {(s.get('chain/id') or b'').decode()} ({config.NETWORK_LABEL}), {where}",
            f"height: {height}  time: {(s.get(appmod.K_TIME) or b'').decode()}",
            f"accounts: {accounts}",
            "deployments: " + (", ".join(f"{n} {k}" for k, n in sorted(deployments.items())) or "none"),
            "leases: " + (", ".join(f"{n} {k}" for k, n in sorted(leases.items())) or "none"),
            "providers:",
        ]
        for spec in config.PROVIDERS:
            owner = provider_wallet(spec).address
            p = names.get(owner)
            uri = p.host_uri if p else "(not registered)"
            lines.append(f"  {spec.name:<8} {owner}  {uri}  {'audited' if spec.audited else 'not audited'}")
        return lines
    finally:
        store.close()
