"""The idempotency keys "Verificación" issued to one session, in Redis beside the session.

Why not in the session: a second tab's "Verificación" and this tab's "Finalizar" each
read the list, changed it and wrote it back, so one of them lost the other's key (the
tab's "Finalizar" then said the form was not valid). Here each change is one atomic step
(a Lua script or a single HSET) on a hash with its own expiry:

- `e:<key>`: the entry (body, digest, total, whether a code is needed);
- `d:<digest>`: the key last issued for that body (shown again → the same key);
- `i:<key>`: the intent made with that key, once "Finalizar" made it;
and a sorted set keeps the last ISSUED_MAX keys, older ones are forgotten."""
from __future__ import annotations

import time
from typing import Any

from flask import current_app
from flask.json.tag import TaggedJSONSerializer

_serializer = TaggedJSONSerializer()

# KEYS: hash, order. ARGV: digest, new key, entry, now, max kept, ttl. Returns the key.
_ISSUE = """
local existing = redis.call('HGET', KEYS[1], 'd:' .. ARGV[1])
if existing and redis.call('HEXISTS', KEYS[1], 'e:' .. existing) == 1
   and redis.call('HEXISTS', KEYS[1], 'i:' .. existing) == 0 then
  return existing
end
redis.call('HSET', KEYS[1], 'e:' .. ARGV[2], ARGV[3], 'd:' .. ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if extra > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[2], extra)
  for i = 1, #popped, 2 do redis.call('HDEL', KEYS[1], 'e:' .. popped[i], 'i:' .. popped[i]) end
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[6]))
return ARGV[2]
"""


class IssuedKeys:
    def __init__(self, client: Any, scope: str, ttl_s: int, keep: int) -> None:
        self.client = client
        self.hash_key = f"zp:ik:{scope}"
        self.order_key = f"zp:iko:{scope}"
        self.ttl_s = max(1, ttl_s)
        self.keep = keep

    def issue(self, digest: str, new_key: str, entry: dict[str, Any]) -> dict[str, Any]:
        """The entry for that body: the one issued before if not submitted yet, else `entry`."""
        key = self.client.eval(_ISSUE, 2, self.hash_key, self.order_key, digest, new_key,
                               _serializer.dumps(entry), time.time(), self.keep, self.ttl_s)
        key = key.decode() if isinstance(key, bytes) else key
        found = self.find(key)
        return found if found is not None else {**entry, "key": new_key}

    def find(self, key: str) -> dict[str, Any] | None:
        raw, intent = self.client.hmget(self.hash_key, f"e:{key}", f"i:{key}")
        if raw is None:
            return None
        entry = dict(_serializer.loads(raw.decode()))
        entry["intent_id"] = int(intent) if intent is not None else None
        return entry

    def remember_intent(self, key: str, intent_id: int) -> None:
        if self.client.hexists(self.hash_key, f"e:{key}"):
            self.client.hset(self.hash_key, f"i:{key}", intent_id)


def for_session(session: Any, keep: int) -> IssuedKeys:
    settings = current_app.config["ZONA_SETTINGS"]
    return IssuedKeys(current_app.session_interface.client, session.stable_id(),
                      settings.session_absolute_timeout_s, keep)
