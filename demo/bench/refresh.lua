-- wrk script for the refresh_token grant (demo/bench/wrk.sh).
--
--   wrk -s refresh.lua URL -- TOKENS_FILE THREADS BASIC
--
-- Refresh tokens rotate: each is good for one request, whose answer
-- carries the next one, and a rotated token presented again is a reuse,
-- which revokes its whole grant. So every request must use a token no
-- other request uses, and the next request of a chain must wait for the
-- previous answer. wrk cannot tell which connection an answer came on, but
-- each thread has its own Lua state: thread i takes the lines i, i+THREADS,
-- ... of TOKENS_FILE (one live refresh token a line, each of its own grant)
-- as a queue. request() takes a token off the queue, response() puts the
-- token of a 200 answer back on it. A thread has as many requests in
-- flight as connections, so the file needs at least CONNS tokens (wrk.sh
-- mints twice that, so that an answer lost to a dropped connection costs
-- nothing). A queue that runs dry sends "none", which the server refuses
-- (400, without touching any grant), and wrk.sh stops on the non-2xx.

local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local queue, head, tail = {}, 1, 0

function init(args)
  local path, threads = args[1], tonumber(args[2])
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Authorization"] = "Basic " .. args[3]
  local i = 0
  for line in io.lines(path) do
    if line ~= "" then
      if i % threads == id then
        tail = tail + 1
        queue[tail] = line
      end
      i = i + 1
    end
  end
end

-- The load generator shares the machine with the server: its own work per
-- request is kept small. Every token has the same length, so the request
-- up to the token (headers, Content-Length) is formatted once per length
-- and the token appended; the answer's token is found by plain search.
local prefix, prefix_for = nil, -1

function request()
  local token = "none"
  if head <= tail then
    token = queue[head]
    queue[head] = nil
    head = head + 1
  end
  if #token ~= prefix_for then
    local req = wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. token)
    prefix, prefix_for = string.sub(req, 1, #req - #token), #token
    return req
  end
  return prefix .. token
end

local field = '"refresh_token":"'

function response(status, headers, body)
  if status ~= 200 then
    return
  end
  local s = string.find(body, field, 1, true)
  if not s then
    return
  end
  s = s + #field
  local e = string.find(body, '"', s, true)
  if e then
    tail = tail + 1
    queue[tail] = string.sub(body, s, e - 1)
  end
end
