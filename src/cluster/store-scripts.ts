/**
 * The Lua scripts of the Redis store (src/cluster/redis-store.ts). Each runs atomically in Redis:
 * a commit is one script call whatever its size, and so is a claim, a hand-over or an adoption of
 * one session. Key names are built inside the scripts from the node ids, so the store needs one
 * Redis server (or a Sentinel-managed one), not Redis Cluster.
 *
 * Layout (docs/cluster.md): `fennec:owner:CLIENT` (hash node, token, fresh) says which node owns a
 * client id and under which fencing token; `fennec:tokens` hands out tokens (INCR, never reused);
 * each node keeps its sessions under `fennec:store:NODE:` (see `nsOf`).
 */

/**
 * How many cluster ids of completed messages the store keeps per session (`fennec:done:CLIENT`, a
 * list, newest first), and for how long after the session's last completion, ms: about 15 KB per
 * session at most. A copy of a message that comes later than that is delivered again.
 */
export const DONE_KEPT = 256;
export const DONE_TTL_MS = 600_000;

/** Functions the scripts share. */
const prelude = `
local function nsOf(node) return '{fennec}:store:' .. node .. ':' end
local function ownerKey(cid) return '{fennec}:owner:' .. cid end
local function doneKey(cid) return '{fennec}:done:' .. cid end
local function num(n) return string.format('%.0f', n) end
local function newToken() return num(redis.call('INCR', '{fennec}:tokens')) end

-- Everything of one session in namespace ns, with the messages its deliveries refer to.
local function readSession(ns, cid)
  local session = redis.call('HGET', ns .. 'sessions', cid)
  local subs = redis.call('HGETALL', ns .. 'subs:' .. cid)
  local seqs = redis.call('SMEMBERS', ns .. 'dlvof:' .. cid)
  local deliveries, messages, seen = {}, {}, {}
  for _, seq in ipairs(seqs) do
    local fixed = redis.call('HGET', ns .. 'dlv', seq)
    if fixed then
      local state = redis.call('HGET', ns .. 'dlvs', seq) or '0 0'
      deliveries[#deliveries + 1] = seq
      deliveries[#deliveries + 1] = fixed
      deliveries[#deliveries + 1] = state
      local mid = string.sub(fixed, 1, string.find(fixed, ' ', 1, true) - 1)
      if not seen[mid] then
        seen[mid] = true
        local bytes = redis.call('HGET', ns .. 'msgs', mid)
        if bytes then
          messages[#messages + 1] = mid
          messages[#messages + 1] = bytes
        end
      end
    end
  end
  local spool = redis.call('ZRANGE', ns .. 'spoolsz:' .. cid, 0, -1)
  local done = redis.call('LRANGE', doneKey(cid), 0, -1)
  return { session or '', subs, deliveries, messages, redis.call('SMEMBERS', ns .. 'qos2:' .. cid), spool, done }
end

-- The spooled rows of key srcKey in namespace src become those of dstKey in dst, numbers kept
-- (src/cluster/redis-spool.ts): two sorted sets renamed, the set of keys with rows kept current.
local function moveSpool(src, srcKey, dst, dstKey)
  if redis.call('EXISTS', src .. 'spool:' .. srcKey) == 1 then
    redis.call('RENAME', src .. 'spool:' .. srcKey, dst .. 'spool:' .. dstKey)
    redis.call('SADD', dst .. 'spoolclients', dstKey)
  end
  if redis.call('EXISTS', src .. 'spoolsz:' .. srcKey) == 1 then
    redis.call('RENAME', src .. 'spoolsz:' .. srcKey, dst .. 'spoolsz:' .. dstKey)
  end
  redis.call('SREM', src .. 'spoolclients', srcKey)
end

local function clearSpool(ns, key)
  redis.call('DEL', ns .. 'spool:' .. key, ns .. 'spoolsz:' .. key)
  redis.call('SREM', ns .. 'spoolclients', key)
end

-- Moves session cid from namespace src to dst, renumbering its deliveries from seqBase + 1 and its
-- messages from msgBase + 1 in queue order, so that they cannot meet the numbers dst already uses.
local function move(src, dst, cid, seqBase, msgBase)
  local seqs = redis.call('SMEMBERS', src .. 'dlvof:' .. cid)
  table.sort(seqs, function(x, y) return tonumber(x) < tonumber(y) end)
  local renamed, count = {}, 0
  for i, seq in ipairs(seqs) do
    local fixed = redis.call('HGET', src .. 'dlv', seq)
    local state = redis.call('HGET', src .. 'dlvs', seq) or '0 0'
    redis.call('HDEL', src .. 'dlv', seq)
    redis.call('HDEL', src .. 'dlvc', seq)
    redis.call('HDEL', src .. 'dlvs', seq)
    if fixed then
      local space = string.find(fixed, ' ', 1, true)
      local mid = string.sub(fixed, 1, space - 1)
      local newMid = renamed[mid]
      if not newMid then
        count = count + 1
        newMid = num(msgBase + count)
        renamed[mid] = newMid
        local bytes = redis.call('HGET', src .. 'msgs', mid)
        if bytes then redis.call('HSET', dst .. 'msgs', newMid, bytes) end
      end
      local newSeq = num(seqBase + i)
      redis.call('HSET', dst .. 'dlv', newSeq, newMid .. string.sub(fixed, space))
      redis.call('HSET', dst .. 'dlvc', newSeq, cid)
      redis.call('HSET', dst .. 'dlvs', newSeq, state)
      redis.call('SADD', dst .. 'dlvof:' .. cid, newSeq)
    end
  end
  redis.call('DEL', src .. 'dlvof:' .. cid)
  local session = redis.call('HGET', src .. 'sessions', cid)
  if session then
    redis.call('HDEL', src .. 'sessions', cid)
    redis.call('HSET', dst .. 'sessions', cid, session)
  end
  local subs = redis.call('HGETALL', src .. 'subs:' .. cid)
  if #subs > 0 then
    redis.call('DEL', src .. 'subs:' .. cid)
    redis.call('SREM', src .. 'subclients', cid)
    for i = 1, #subs, 2 do redis.call('HSET', dst .. 'subs:' .. cid, subs[i], subs[i + 1]) end
    redis.call('SADD', dst .. 'subclients', cid)
  end
  local ids = redis.call('SMEMBERS', src .. 'qos2:' .. cid)
  if #ids > 0 then
    redis.call('DEL', src .. 'qos2:' .. cid)
    redis.call('SREM', src .. 'qos2clients', cid)
    for _, id in ipairs(ids) do redis.call('SADD', dst .. 'qos2:' .. cid, id) end
    redis.call('SADD', dst .. 'qos2clients', cid)
  end
  moveSpool(src, cid, dst, cid)
end

-- The plain topic filters of session cid in namespace ns join node's routes at once, announced, so
-- that the session's messages go to its new node even if that node dies before it announces them
-- itself (it announces them again when it installs the session: adding a route twice changes nothing).
local function routesTo(ns, cid, node)
  for _, f in ipairs(redis.call('HKEYS', ns .. 'subs:' .. cid)) do
    if string.sub(f, 1, 7) ~= '$share/' and redis.call('SADD', '{fennec}:routes:' .. node, f) == 1 then
      redis.call('PUBLISH', 'fennec:routes', cjson.encode({ node = node, op = '+', filter = f }))
    end
  end
end

local function endSession(ns, cid)
  redis.call('HDEL', ns .. 'sessions', cid)
  redis.call('DEL', ns .. 'subs:' .. cid)
  redis.call('SREM', ns .. 'subclients', cid)
  for _, seq in ipairs(redis.call('SMEMBERS', ns .. 'dlvof:' .. cid)) do
    redis.call('HDEL', ns .. 'dlv', seq)
    redis.call('HDEL', ns .. 'dlvc', seq)
    redis.call('HDEL', ns .. 'dlvs', seq)
  end
  redis.call('DEL', ns .. 'dlvof:' .. cid)
  redis.call('DEL', ns .. 'qos2:' .. cid)
  redis.call('SREM', ns .. 'qos2clients', cid)
  redis.call('DEL', doneKey(cid))
  clearSpool(ns, cid)
end
`;

/**
 * Commit: ARGV = node id, then 6 per operation (kind, client id, fencing token, a, b, c). An
 * operation on a client id whose owner is another node, or this node under another token, is
 * skipped and counted: a node that lost a session can no longer write to it. A client id with no
 * owner is claimed by the first write to it, when the writer holds no token for it. Replies
 * { fenced count, client id, token, client id, token... } for the client ids it claimed or ended
 * (token '0': this node no longer owns it). The spool's operations (`spool` a = n, b = row,
 * c = payload bytes; `unspool` a = through; `clear-spool`; `move-spool` a = the orphan key) are
 * fenced the same way, except that deleting or moving rows claims nothing, and an orphan key
 * (U+0000 first) is the node's own. A delivery fenced out (\`enqueue\` or \`spool\`: a message this
 * node queued for a session taken from it meanwhile, from its stream whose entry this commit
 * deletes) is passed on to the session's owner, marked for it, as a node the session left forwards it.
 */
export const commitScript = `${prelude}
local me = ARGV[1]
local ns = nsOf(me)
local fenced, claimed, verdict = 0, {}, {}
-- The JSON header of \`bytes\` (4-byte length, JSON, the rest), or nil.
local function headerOf(bytes)
  local ok, header = pcall(cjson.decode, string.sub(bytes, 5, 4 + struct.unpack('>I4', bytes)))
  if ok and type(header) == 'table' then return header end
end
-- A stored message (\`bytes\`, the form between nodes too) fenced out for session cid: to the stream
-- of the session's owner, marked for it, under its cluster id (the header's \`i\`, else \`fallback\`).
-- This node's own stream too, when it owns the session under a newer token (a claim of its own
-- under way, after it handed the session over or lost it): the copy it queued was in the old one.
local function passOn(cid, bytes, fallback)
  local owner = redis.call('HGET', ownerKey(cid), 'node')
  if not owner then return end
  local header = headerOf(bytes)
  local id = (header and type(header.i) == 'string') and header.i or fallback
  redis.call('XADD', '{fennec}:stream:' .. owner, '*', 'i', id, 'm', bytes, 's', cid)
end
-- The message of a fenced delivery (\`fixed\`: see store-codec.ts encodeDelivery) or spooled row
-- (\`row\`: see redis-spool.ts encodeSpoolRow); not a shared group's (another member may take it).
local function passOnDelivery(cid, fixed)
  if string.find(fixed, '"s":', 1, true) then return end
  local mid = string.sub(fixed, 1, string.find(fixed, ' ', 1, true) - 1)
  local bytes = redis.call('HGET', ns .. 'msgs', mid)
  if bytes then passOn(cid, bytes, me .. '/fenced/' .. mid) end
end
local function passOnRow(cid, n, row)
  local header = headerOf(row)
  if not header or header.s then return end
  passOn(cid, string.sub(row, 5 + struct.unpack('>I4', row)), me .. '/fenced/' .. cid .. '/' .. n)
end
local function allowed(cid, token)
  local v = verdict[cid]
  if v ~= nil then return v end
  local o = redis.call('HMGET', ownerKey(cid), 'node', 'token')
  if not o[1] then
    v = token == '0'
    if v then
      local t = newToken()
      redis.call('HSET', ownerKey(cid), 'node', me, 'token', t, 'fresh', '0')
      claimed[cid] = true
    end
  else
    v = o[1] == me and (token == '0' or token == o[2])
  end
  verdict[cid] = v
  return v
end
-- Deleting or moving spooled rows claims nothing: rows of a client id nobody owns are this node's leftovers.
local function mayRemove(cid, token)
  local v = verdict[cid]
  if v ~= nil then return v end
  local o = redis.call('HMGET', ownerKey(cid), 'node', 'token')
  if not o[1] then return true end
  return o[1] == me and (token == '0' or token == o[2])
end
for i = 2, #ARGV, 6 do
  local kind, cid, token, a, b, c = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  if kind == 'message' then redis.call('HSET', ns .. 'msgs', a, b)
  elseif kind == 'forget-message' then redis.call('HDEL', ns .. 'msgs', a)
  elseif kind == 'retain' then redis.call('HSET', ns .. 'retained', a, b)
  elseif kind == 'unretain' then redis.call('HDEL', ns .. 'retained', a)
  elseif kind == 'stream-ack' then
    -- A stream entry whose deliveries this commit writes leaves the stream in the same step: an
    -- adopter that drains the stream of this node, dead, never finds it there and in the store too.
    redis.call('XACK', a, 'fennec', b)
    redis.call('XDEL', a, b)
  else
    if cid == '' then cid = redis.call('HGET', ns .. 'dlvc', a) or '' end
    -- An orphan spool's key (U+0000 first) is this node's own, never a client id: not fenced.
    local ok = cid == '' or string.byte(cid, 1) == 0
    if not ok then
      if kind == 'unspool' or kind == 'clear-spool' or kind == 'move-spool' then ok = mayRemove(cid, token)
      elseif kind == 'done' then
        -- A note of a completion claims nothing: only the session's owner keeps one.
        local o = redis.call('HMGET', ownerKey(cid), 'node', 'token')
        ok = o[1] == me and (token == '0' or token == o[2])
      else ok = allowed(cid, token) end
    end
    if not ok then
      fenced = fenced + 1
      if kind == 'enqueue' then passOnDelivery(cid, b)
      elseif kind == 'spool' then passOnRow(cid, a, b) end
    elseif kind == 'session' then redis.call('HSET', ns .. 'sessions', cid, a)
    elseif kind == 'end-session' then
      endSession(ns, cid)
      redis.call('DEL', ownerKey(cid))
      verdict[cid] = nil
      claimed[cid] = true
    elseif kind == 'subscribe' then
      redis.call('HSET', ns .. 'subs:' .. cid, a, b)
      redis.call('SADD', ns .. 'subclients', cid)
    elseif kind == 'unsubscribe' then
      redis.call('HDEL', ns .. 'subs:' .. cid, a)
      if redis.call('EXISTS', ns .. 'subs:' .. cid) == 0 then redis.call('SREM', ns .. 'subclients', cid) end
    elseif kind == 'enqueue' then
      local previous = redis.call('HGET', ns .. 'dlvc', a)
      if previous and previous ~= cid then redis.call('SREM', ns .. 'dlvof:' .. previous, a) end
      redis.call('HSET', ns .. 'dlv', a, b)
      redis.call('HSET', ns .. 'dlvc', a, cid)
      redis.call('HSET', ns .. 'dlvs', a, c)
      redis.call('SADD', ns .. 'dlvof:' .. cid, a)
    elseif kind == 'delivery-state' then
      if redis.call('HEXISTS', ns .. 'dlv', a) == 1 then redis.call('HSET', ns .. 'dlvs', a, b) end
    elseif kind == 'complete' then
      redis.call('HDEL', ns .. 'dlv', a)
      redis.call('HDEL', ns .. 'dlvc', a)
      redis.call('HDEL', ns .. 'dlvs', a)
      redis.call('SREM', ns .. 'dlvof:' .. cid, a)
    elseif kind == 'qos2-received' then
      redis.call('SADD', ns .. 'qos2:' .. cid, a)
      redis.call('SADD', ns .. 'qos2clients', cid)
    elseif kind == 'qos2-released' then
      redis.call('SREM', ns .. 'qos2:' .. cid, a)
    elseif kind == 'spool' then
      -- A commit tried again writes the same rows: the row numbered a replaces any left there.
      redis.call('ZREMRANGEBYSCORE', ns .. 'spool:' .. cid, a, a)
      redis.call('ZREMRANGEBYSCORE', ns .. 'spoolsz:' .. cid, a, a)
      redis.call('ZADD', ns .. 'spool:' .. cid, a, b)
      redis.call('ZADD', ns .. 'spoolsz:' .. cid, a, a .. ' ' .. c)
      redis.call('SADD', ns .. 'spoolclients', cid)
    elseif kind == 'unspool' then
      redis.call('ZREMRANGEBYSCORE', ns .. 'spool:' .. cid, '-inf', a)
      redis.call('ZREMRANGEBYSCORE', ns .. 'spoolsz:' .. cid, '-inf', a)
      if redis.call('EXISTS', ns .. 'spool:' .. cid) == 0 then redis.call('SREM', ns .. 'spoolclients', cid) end
    elseif kind == 'done' then
      redis.call('LPUSH', doneKey(cid), a)
      redis.call('LTRIM', doneKey(cid), 0, ${DONE_KEPT - 1})
      redis.call('PEXPIRE', doneKey(cid), ${DONE_TTL_MS})
    elseif kind == 'clear-spool' then clearSpool(ns, cid)
    elseif kind == 'move-spool' then moveSpool(ns, cid, ns, a)
    end
  end
end
local reply = { fenced }
for cid in pairs(claimed) do
  local o = redis.call('HMGET', ownerKey(cid), 'node', 'token')
  reply[#reply + 1] = cid
  reply[#reply + 1] = (o[1] == me and o[2]) or '0'
end
return reply`;

/**
 * Claim: ARGV = client id, this node, seqBase, range, msgBase, force ('1': take it even from a live
 * owner), expected owner ('' any; else claim only from that node: adoption), the owner to force it
 * from ('' any; else a force takes it from that node only: from another live owner, one that took
 * it meanwhile and was never asked, it is 'busy'). Replies:
 * { 'own', token } this node owns it (now, or already); { 'busy', owner, token } a live node owns
 * it and must hand it over; { 'moved', token, session..., previous owner, spool sizes, where the
 * previous owner's stream ended when it was taken without a hand-over ('' otherwise), '', done ids }
 * it was moved here from a dead (or forced) owner; { 'moved', token, session..., '', spool sizes,
 * where the stream of the node that handed it over ends, that node, done ids } handed over by its
 * owner; either is returned to be loaded (done ids: the session's completed messages, DONE_KEPT);
 * { 'range', deliveries } the reserved numbers are too few; { 'skip' } not the expected owner's, or
 * the expected owner (a node declared dead) holds a lease again: it restarted and keeps its sessions.
 */
export const claimScript = `${prelude}
local cid, me, seqBase, range, msgBase = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local force, expected, forceFrom, cutoff = ARGV[6], ARGV[7], ARGV[8] or '', tonumber(ARGV[9] or '0')
local key = ownerKey(cid)
local o = redis.call('HMGET', key, 'node', 'token', 'fresh')
if expected ~= '' and o[1] ~= expected then return { 'skip' } end
if expected ~= '' and redis.call('EXISTS', '{fennec}:lease:' .. expected) == 1 then return { 'skip' } end
if not o[1] then
  local t = newToken()
  redis.call('HSET', key, 'node', me, 'token', t, 'fresh', '0')
  return { 'own', t }
end
if o[1] == me then
  if o[3] == '1' then
    redis.call('HSET', key, 'fresh', '0')
    local r = readSession(nsOf(me), cid)
    -- Handed over here by 'from': where its stream ends, for a claimer that never had its answer.
    local by = redis.call('HGET', key, 'from') or ''
    local tail = by ~= '' and redis.call('XREVRANGE', '{fennec}:stream:' .. by, '+', '-', 'COUNT', 1) or {}
    return { 'moved', o[2], r[1], r[2], r[3], r[4], r[5], '', r[6], tail[1] and tail[1][1] or '0-0', by, r[7] }
  end
  return { 'own', o[2] }
end
local forced = force == '1' and (forceFrom == '' or forceFrom == o[1])
if not forced and redis.call('EXISTS', '{fennec}:lease:' .. o[1]) == 1 then return { 'busy', o[1], o[2] } end
local n = redis.call('SCARD', nsOf(o[1]) .. 'dlvof:' .. cid)
if n > range then return { 'range', n } end
move(nsOf(o[1]), nsOf(me), cid, seqBase, msgBase)
routesTo(nsOf(me), cid, me)
local t = newToken()
redis.call('HSET', key, 'node', me, 'token', t, 'fresh', '0')
local r = readSession(nsOf(me), cid)
-- Taken from a node that could not hand it over: this node reads what waits for the session in
-- that node's stream (to where it ends now, at least), and the stream's next reader (the node
-- restarted under its id, or its adopter) forwards what comes after what this node read. An
-- adoption reads that stream itself, and the record matters only if the dead node comes back
-- meanwhile. Nothing is read yet: until this node has what it read in its store (it then moves the
-- mark, left-sessions.ts \`readUpTo\`), a reader forwards all of it (this node drops what it had),
-- so that nothing is skipped should this node die before; all of it up to LEFT_CUTOFF_MS (ARGV[9])
-- from now: this script announces this node's routes, so later entries reached it too.
local tail = redis.call('XREVRANGE', '{fennec}:stream:' .. o[1], '+', '-', 'COUNT', 1)
local last = tail[1] and tail[1][1] or '0-0'
local now = redis.call('TIME')
local left = { me, '0-0 <' .. (tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + cutoff) }
for i = 1, #r[2], 2 do
  if string.sub(r[2][i], 1, 7) ~= '$share/' then left[#left + 1] = r[2][i] end
end
if #left > 2 then redis.call('HSET', '{fennec}:left:' .. o[1], cid, table.concat(left, '\\n')) end
if expected ~= '' then last = '' end
return { 'moved', t, r[1], r[2], r[3], r[4], r[5], o[1], r[6], last, '', r[7] }`;

/**
 * Hand-over, run by the owner that releases a session: ARGV = client id, this node, its token
 * ('0': unknown, not checked), the new owner, seqBase, range, msgBase, then ids of this node's
 * messages to delete (no delivery of its own refers to them any more). Moves the session into the
 * new owner's namespace with the new owner's numbers, and marks it `fresh` for the new owner to
 * load. Records the session in this node's left hash, as a claim does, nothing read ('0-0'), and
 * until when (Redis time, ms) what reached this node's stream may be the session's only copy: the
 * script announces the new owner's routes, so that every node sends there too a moment later
 * (LEFT_CUTOFF_MS, ARGV: see RedisStore.handOver). A node killed before it passed on what its
 * stream got for the session forwards it once back (or its adopter does), up to that time; alive,
 * it deletes the record once it has (handover-forward.ts). Replies
 * { 'ok', token }, { 'lost' } when this node no longer owns it, or { 'range', n }.
 */
export const handOverScript = `${prelude}
local cid, me, token, to = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local seqBase, range, msgBase, cutoff = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local key = ownerKey(cid)
local o = redis.call('HMGET', key, 'node', 'token')
if o[1] ~= me or (token ~= '0' and o[2] ~= token) then return { 'lost' } end
local n = redis.call('SCARD', nsOf(me) .. 'dlvof:' .. cid)
if n > range then return { 'range', n } end
move(nsOf(me), nsOf(to), cid, seqBase, msgBase)
routesTo(nsOf(to), cid, to)
for i = 9, #ARGV do redis.call('HDEL', nsOf(me) .. 'msgs', ARGV[i]) end
local now = redis.call('TIME')
local left = { to, '0-0 <' .. (tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + cutoff) }
for _, filter in ipairs(redis.call('HKEYS', nsOf(to) .. 'subs:' .. cid)) do
  if string.sub(filter, 1, 7) ~= '$share/' then left[#left + 1] = filter end
end
if #left > 2 then redis.call('HSET', '{fennec}:left:' .. me, cid, table.concat(left, '\\n')) end
local t = newToken()
redis.call('HSET', key, 'node', to, 'token', t, 'fresh', '1', 'from', me)
return { 'ok', t }`;

/**
 * Release, run by the owner of a session that ends with its connection (no data): deletes the
 * owner entry if this node still owns it under `token`. ARGV = client id, this node, token.
 */
export const releaseScript = `
local key = '{fennec}:owner:' .. ARGV[1]
local o = redis.call('HMGET', key, 'node', 'token')
if o[1] == ARGV[2] and (ARGV[3] == '0' or o[2] == ARGV[3]) then redis.call('DEL', key) return 1 end
return 0`;
