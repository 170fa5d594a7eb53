-- POST the request bodies found in BODIES_DIR (files 1..N), in turn, to POST_PATH.
local bodies = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local headers = {}
local index = 0

function init(args)
  local dir = os.getenv("BODIES_DIR")
  local count = tonumber(os.getenv("BODIES_COUNT"))
  local threads = tonumber(os.getenv("WRK_THREADS"))
  -- each thread posts its own share of the bodies: no document is sent twice
  for i = 1, count do
    if (i % threads) == tid then
      local f = io.open(dir .. "/" .. i .. ".json", "rb")
      bodies[#bodies + 1] = f:read("*a")
      f:close()
    end
  end
  for line in io.lines(os.getenv("HEADERS_FILE")) do
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then headers[name] = value end
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  index = 0
end

function request()
  index = index + 1
  if index > #bodies then index = 1 end
  return wrk.format("POST", os.getenv("POST_PATH"), headers, bodies[index])
end

function done(summary, latency, requests)
  local codes = summary.errors
  io.write(string.format("non2xx=%d\n", codes.status))
end
