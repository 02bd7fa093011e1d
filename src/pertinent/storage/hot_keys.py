"""The Redis layout of the hot store (``storage/hot.py``): key names, value codecs and the Lua scripts.

Every key starts with ``pertinent:hot:`` and expires (``hot_store_ttl_s``):

=====================  ==========================================================================
``id:<identity key>``  ``[kind, profile_id, created_at]`` (the key is already a pseudonym); empty: known
                       to be unknown, for at most ``NEGATIVE_S`` (until that identity's first write)
``ids:<profile_id>``   set of the identity keys cached for the profile (what erasure deletes)
``p:<profile_id>``     ``[traits, state, consent, created_at, updated_at]``; empty: no profile row (an
                       identity seen by ``/v1/decide`` only), for at most ``NEGATIVE_S``
``s:<profile_id>``     ``{segment_id: entered_at}`` (``{}``: a member of nothing), written through after
                       each membership change (the whole set, read in the changing transaction)
``x:<profile_id>``     hash experiment -> first exposure ``[decision_id, slot, variant, reason, at,
                       propensity, detail]`` (sticky assignment: a first exposure never changes), or
                       ``-<unix time>``: none in SQL when read, believed until that time (``NEGATIVE_S``); the
                       decision writer's write-through of the first exposure replaces it (script ``EXPOSE``);
                       field ``*`` = ``-<unix time>``: no other exposure exists (a profile id minted in the
                       transaction that wrote it), believed until that time
``known``              the identity directory, a Bloom filter of every identity key (``hot_directory.py``)
``gone:<profile_id>``  tombstone, for a minute after an erasure or deletion: read-through fills of
                       the profile are refused, so a read that began before the erasure committed
                       cannot put the erased data back
=====================  ==========================================================================

Values are JSON (orjson). The scripts touch keys they compute from the values they read (one round trip per
request): they suit one Redis server (or a primary with replicas), not Redis Cluster.
"""

from __future__ import annotations

from typing import Any

import orjson

from pertinent.storage.base import DecisionRow, IdentityRow, ProfileRow

PREFIX = "pertinent:hot:"
TOMBSTONE_S = 60
NEGATIVE_S = 300  # an identity or exposure known to be absent: its first write-through replaces it


def k_id(key: str) -> str:
    return f"{PREFIX}id:{key}"


def k_ids(pid: str) -> str:
    return f"{PREFIX}ids:{pid}"


def k_profile(pid: str) -> str:
    return f"{PREFIX}p:{pid}"


def k_segments(pid: str) -> str:
    return f"{PREFIX}s:{pid}"


def k_exposures(pid: str) -> str:
    return f"{PREFIX}x:{pid}"


def k_gone(pid: str) -> str:
    return f"{PREFIX}gone:{pid}"


def enc_identity(row: IdentityRow) -> bytes:
    return orjson.dumps([row.kind, row.profile_id, row.created_at])


def dec_identity(key: str, raw: bytes) -> IdentityRow:
    kind, pid, created = orjson.loads(raw)
    return IdentityRow(key, kind, pid, created)


def enc_profile(row: ProfileRow) -> bytes:
    return orjson.dumps([row.traits, row.state, row.consent, row.created_at, row.updated_at])


def dec_profile(pid: str, raw: bytes) -> ProfileRow:
    traits, state, consent, created, updated = orjson.loads(raw)
    return ProfileRow(pid, traits, state, consent, created, updated)


def enc_segments(segments: dict[str, float]) -> bytes:
    return orjson.dumps(segments)


def dec_segments(raw: bytes) -> dict[str, float]:
    out: dict[str, float] = orjson.loads(raw)
    return out


def enc_exposure(row: DecisionRow) -> bytes:
    return orjson.dumps([row.decision_id, row.slot, row.variant, row.reason, row.at, row.propensity, row.detail])


def dec_exposure(pid: str, experiment: str, raw: bytes) -> DecisionRow:
    decision_id, slot, variant, reason, at, propensity, detail = orjson.loads(raw)
    return DecisionRow(decision_id, pid, slot, variant, reason, at, experiment, propensity, detail)


def enc_no_exposure(until: float) -> bytes:
    """The hash value saying "no exposure in SQL", believed until ``until`` (unix seconds)."""
    return b"-%d" % int(until)


def no_exposure_until(raw: bytes) -> float | None:
    """The time a "no exposure" value is believed until; None for a real exposure.

    >>> no_exposure_until(enc_no_exposure(1700000000.5)), no_exposure_until(b'["d1"]')
    (1700000000.0, None)
    """
    return float(raw[1:]) if raw[:1] == b"-" else None


ALL = "*"  # the exposures hash's field saying "no exposure besides those listed", while believed


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# KEYS: identity keys (id:...). ARGV[1]: the prefix; ARGV[2]: the identity directory's key (hot_directory.py);
# ARGV[3]: its bits per identity key (0: do not consult it); then those bits for each identity key in turn.
# Returns whether the directory is complete (1 or 0), then one value (or nil) per identity key ('' when known to
# be unknown: a negative value, or a bit of the complete directory clear), then (profile_id, profile, segments,
# exposures as HGETALL) for each distinct profile found: the whole of a /v1/decide in one round trip.
READ = """
local out, seen, pids = {}, {}, {}
local k = tonumber(ARGV[3])
local complete = 0
if k > 0 then complete = redis.call('GETBIT', ARGV[2], 0) end
out[1] = complete
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if (not v) and complete == 1 then
    for j = 1, k do
      if redis.call('GETBIT', ARGV[2], ARGV[3 + (i - 1) * k + j]) == 0 then v = ''; break end
    end
  end
  out[i + 1] = v
  if v and v ~= '' then
    local pid = cjson.decode(v)[2]
    if not seen[pid] then seen[pid] = true; table.insert(pids, pid) end
  end
end
local n = #KEYS + 1
for _, pid in ipairs(pids) do
  out[n + 1] = pid
  out[n + 2] = redis.call('GET', ARGV[1] .. 'p:' .. pid)
  out[n + 3] = redis.call('GET', ARGV[1] .. 's:' .. pid)
  out[n + 4] = redis.call('HGETALL', ARGV[1] .. 'x:' .. pid)
  n = n + 4
end
return out
"""

# Read-through fill of one profile's keys. KEYS[1]: its tombstone; KEYS[2..]: targets. ARGV[1]: TTL; then three
# per target: op ('s' SET NX; 'n' SET NX expiring after b seconds; 'a' SADD; 'x' HSET where the field is absent
# or a "no exposure" value), a, b.
# Nothing is written while the tombstone stands; a value written meanwhile by a write-through is never replaced.
FILL = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local ttl = ARGV[1]
for i = 2, #KEYS do
  local op, a, b = ARGV[3 * i - 4], ARGV[3 * i - 3], ARGV[3 * i - 2]
  if op == 's' then
    redis.call('SET', KEYS[i], a, 'NX', 'EX', ttl)
  elseif op == 'n' then
    redis.call('SET', KEYS[i], a, 'NX', 'EX', b)
  elseif op == 'a' then
    redis.call('SADD', KEYS[i], a); redis.call('EXPIRE', KEYS[i], ttl)
  else
    local cur = redis.call('HGET', KEYS[i], a)
    if (not cur) or string.sub(cur, 1, 1) == '-' then redis.call('HSET', KEYS[i], a, b) end
    redis.call('EXPIRE', KEYS[i], ttl)
  end
end
return 1
"""

# Write-through of exposures the decision writer committed. KEYS[1]: the profile's tombstone; KEYS[2]: its x: hash.
# ARGV[1]: TTL; then three per experiment: name, encoded exposure, its time. An exposure replaces an absent field,
# a "no exposure" value or a later exposure, so the hash keeps the earliest: the first exposure.
EXPOSE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 2, #ARGV, 3 do
  local e, v, at = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local cur = redis.call('HGET', KEYS[2], e)
  if (not cur) or string.sub(cur, 1, 1) == '-' or tonumber(cjson.decode(cur)[5]) > at then
    redis.call('HSET', KEYS[2], e, v)
  end
end
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1
"""

# Drop every key of one profile. ARGV: prefix, profile id, tombstone seconds (0: none), then identity keys to
# drop besides those listed in its ids: set. Returns how many keys went.
DROP = """
local p, pid = ARGV[1], ARGV[2]
if tonumber(ARGV[3]) > 0 then redis.call('SET', p .. 'gone:' .. pid, '1', 'EX', ARGV[3]) end
local n = 0
for _, k in ipairs(redis.call('SMEMBERS', p .. 'ids:' .. pid)) do n = n + redis.call('DEL', p .. 'id:' .. k) end
for i = 4, #ARGV do n = n + redis.call('DEL', p .. 'id:' .. ARGV[i]) end
return n + redis.call('DEL', p .. 'ids:' .. pid, p .. 'p:' .. pid, p .. 's:' .. pid, p .. 'x:' .. pid)
"""
