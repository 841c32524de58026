"""How many builds one build host (a Docker Engine) runs at once, across every worker that uses it.

A build takes a slot before it starts and gives it back when it ends. Slots live in a Redis
sorted set per build host, scored by when each lapses, so a killed worker's slot frees itself
by the end of its build's time limit. Taking one is a single script, so two workers never both
take the last.
"""

from __future__ import annotations

import time
from typing import Callable

from redis import Redis

# Removes lapsed slots, then takes one for ARGV[1] (until ARGV[3]) if fewer than ARGV[2] are held.
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
return 0
"""


class NoSlot(Exception):
    """No build slot freed before the deadline."""


class SlotWaitStopped(Exception):
    """The caller asked to stop while waiting for a slot (the deployment was cancelled)."""


class BuildSlots:
    def __init__(self, redis: Redis, build_host: str, limit: int):
        self.redis = redis
        self.key = f"slipway:build-slots:{build_host}"
        self.limit = limit
        self._take = redis.register_script(_TAKE)

    def try_take(self, user: str, ttl_s: float) -> bool:
        now = time.time()
        return bool(self._take(keys=[self.key], args=[user, self.limit, now + ttl_s, now]))

    def take(self, user: str, ttl_s: float, wait_s: float, say: Callable[[str], None],
             should_stop: Callable[[], bool], pause: Callable[[float], None] = time.sleep,
             poll_s: float = 1.0) -> None:
        """Take a slot, waiting up to ``wait_s``; raises NoSlot after that, SlotWaitStopped if told to stop."""
        if self.limit <= 0 or self.try_take(user, ttl_s):
            return
        say(f"waiting for a build slot: this build host runs {self.limit} build(s) at a time")
        deadline = time.monotonic() + wait_s
        while True:
            if should_stop():
                raise SlotWaitStopped()
            if time.monotonic() >= deadline:
                raise NoSlot()
            pause(poll_s)
            if self.try_take(user, ttl_s):
                say("got a build slot")
                return

    def give_back(self, user: str) -> None:
        self.redis.zrem(self.key, user)

    def holders(self) -> list[str]:
        self.redis.zremrangebyscore(self.key, "-inf", time.time())
        return [h.decode() for h in self.redis.zrange(self.key, 0, -1)]
