-- wrk script for bench/tracker.sh: every request is an announce from a new
-- (port, peer_id) over BENCH_TORRENTS torrents, so the tracker keeps adding
-- distinct peers instead of refreshing one. Info-hash i is its index as 4
-- big-endian bytes repeated 5 times, as in bench/udp_load.c.
local torrents = tonumber(os.getenv("BENCH_TORRENTS") or "1000")
local n = 0
local hashes = {}
-- with wrk -tN every thread has its own Lua state: setup() numbers them so
-- each thread announces its own peers (the thread number leads the peer_id)
local threads = 0
setup = function(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local function enc(i)
  -- wrk embeds LuaJIT (Lua 5.1): no integer operators, use bit ops
  local b = string.format("%%%02X%%%02X%%%02X%%%02X",
    bit.band(bit.rshift(i, 24), 255), bit.band(bit.rshift(i, 16), 255),
    bit.band(bit.rshift(i, 8), 255), bit.band(i, 255))
  return b .. b .. b .. b .. b
end

init = function(args)
  for i = 0, torrents - 1 do hashes[i] = enc(i) end
end

request = function()
  n = n + 1
  local t = n % torrents
  local port = 1024 + math.floor(n / torrents) % 60000
  local path = "/announce?info_hash=" .. hashes[t] ..
    "&peer_id=-WK0001-" .. string.format("%d%011d", tid or 0, n % 100000000000) ..
    "&port=" .. port .. "&uploaded=0&downloaded=0&left=" .. ((n % 4 == 0) and 0 or 1000) ..
    "&compact=1&numwant=50&key=" .. string.format("%08x", n % 4294967296) ..
    ((n % 17 == 1) and "&event=started" or "")
  return wrk.format("GET", path)
end
