"""One devnet process: the chain, its REST API on loopback, then the providers.

``run(settings)`` blocks until interrupted. ``Node`` is what the providers' hook gets: the chain
(``node.chain``), the REST API's URL (``node.rest_url``, ``rest+http://...`` for cosmpy) and the
settings.
"""

from __future__ import annotations

from slipway.settings import Settings


def run(settings: Settings) -> None:
    raise NotImplementedError("the devnet chain lands in the next commits")
