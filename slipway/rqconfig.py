"""Settings module for rq's own CLI (``rq worker --config slipway.rqconfig``, see the Procfile).

The Redis URL, password included, is computed here from Slipway's settings, so it never
appears on the worker's command line (where ``ps`` would show it to every user).
"""

from slipway.queue import redis_url_with_password
from slipway.settings import get_settings

REDIS_URL = redis_url_with_password(get_settings())
