-- GET a random path from PATHS_FILE (one path per line), with the headers from HEADERS_FILE.
local paths = {}
local headers = {}

function init(args)
  for line in io.lines(os.getenv("PATHS_FILE")) do paths[#paths + 1] = line end
  for line in io.lines(os.getenv("HEADERS_FILE")) do
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then headers[name] = value end
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  return wrk.format("GET", paths[math.random(#paths)], headers)
end
