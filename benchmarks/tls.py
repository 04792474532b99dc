#!/usr/bin/env python3
"""TLS benchmark: what nginx and TLS add to a request and to a kernel round trip.

Against a kept hub (`python3 benchmarks/converge.py --keep` first): one user's
server is started, then a client inside the container (tools/hubclient.py
piped into the environment's Python, so both paths are loopback) times, in one
run and round-robin so that noise hits every variant alike:
  api  GET /user/<name>/api/status with the user's token
  ws   kernel_info_request -> kernel_info_reply on a kernel's WebSocket
each through nginx/TLS (https://localhost:443, verified with the local CA)
and straight to the proxy (http://127.0.0.1:8000), and each on one kept-alive
connection ("keep") and on a new connection per request ("new": TCP, TLS
handshake and, for ws, the WebSocket upgrade included). Prints one JSON line
and a table: p50/p95 per variant in milliseconds and the TLS/direct ratio of
the p50s.

  python3 benchmarks/tls.py [--count 300] [--name hdfhub-bench] [--port 7443]
"""
import json
import sys

import benchlib

hubclient = benchlib.hubclient()

VARIANTS = [f"{kind}_{conn}_{path}" for kind in ("api", "ws") for conn in ("keep", "new")
            for path in ("tls", "direct")]

# Appended to tools/hubclient.py and run inside the container.
CLIENT = r"""
import sys, time
name, token, kernel_keep, kernel_new = sys.argv[1:5]
count = int(sys.argv[5])
paths = {"tls": HubUser(name, "/etc/hdfhub/tls/ca.crt", "https://localhost:443", token=token),
         "direct": HubUser(name, None, "http://127.0.0.1:8000", token=token)}
sockets = {path: u.connect(kernel_keep) for path, u in paths.items()}

def api_keep(path):
    assert paths[path].status_ok()

def api_new(path):
    session = paths[path].new_session()
    try:
        assert paths[path].status_ok(session=session)
    finally:
        session.close()

def ws_keep(path):
    paths[path].kernel_info(sockets[path])

def ws_new(path):
    ws = paths[path].connect(kernel_new)
    try:
        paths[path].kernel_info(ws)
    finally:
        ws.close()

variants = [(f"{kind.__name__}_{path}", kind, path)
            for kind in (api_keep, api_new, ws_keep, ws_new) for path in paths]
times = {label: [] for label, _, _ in variants}
for i in range(count + 10):  # the first 10 rounds warm up caches and are dropped
    shift = i % len(variants)  # rotate, so no variant always runs first
    for label, fn, path in variants[shift:] + variants[:shift]:
        start = time.perf_counter()
        fn(path)
        if i >= 10:
            times[label].append(time.perf_counter() - start)
print(json.dumps(times))
"""


def main():
    p = benchlib.parser(__doc__)
    p.add_argument("--count", type=int, default=300, help="timed requests per variant")
    p.add_argument("--user", default="tlsbench", help="hub user whose server is used")
    a = p.parse_args()

    benchlib.require_running(a.name)
    user = hubclient.HubUser(a.user, benchlib.ca_file(a.name), benchlib.hub_url(a.port),
                             password=f"bench-{a.user}-password").login()
    user.start()
    try:
        # Separate kernels, so the kept sockets do not see the other
        # variants' traffic; the two paths share each kernel, alike.
        keep, new = user.new_kernel(), user.new_kernel()
        source = (benchlib.ROOT / "tools" / "hubclient.py").read_text() + CLIENT
        out = benchlib.container_python(a.name, source, a.user, user.token, keep, new, a.count)
    finally:
        user.stop()
    times = json.loads(out)

    result = {"benchmark": "tls", "count": a.count}
    for v in VARIANTS:
        s = benchlib.summary([t * 1000 for t in times[v]])
        result[f"{v}_p50_ms"], result[f"{v}_p95_ms"] = s["p50"], s["p95"]
    for v in VARIANTS[::2]:
        base = v[:-len("_tls")]
        result[f"{base}_tls_to_direct"] = benchlib.ratio(result[f"{v}_p50_ms"],
                                                         result[f"{base}_direct_p50_ms"])
    benchlib.report(result, [k for k in result if k not in ("benchmark",)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
