"""A small workshop: five attendees arriving together, through benchmarks/load.py.

Each logs in through the form, starts a server, runs an h5py cell in a kernel
over the WebSocket, idles briefly and stops, all through nginx and TLS. Only
correctness is checked; the timings are the benchmark's business.
"""
import pathlib
import sys

from conftest import HTTPS, firstuse_only, password

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "benchmarks"))
import load  # noqa: E402

# Fixed names, which the scenario must allow (hdfhub_users); firstuse keeps
# their first password, and conftest's password() is the same every run.
NAMES = [f"load{i}" for i in range(1, 6)]


@firstuse_only
def test_five_attendees(host, ca_file):
    # Arrivals 3 s apart: on a 2-core CI machine five servers starting at
    # the same moment can outlast the hub's default Spawner.http_timeout (30 s).
    got = load.run_load(HTTPS, ca_file, NAMES, password, ramp=15, idle=3, deadline=420)
    assert got["failures"] == {}, got["failure_details"]
    assert got["ready"] == got["done"] == len(NAMES)
    assert got["not_stopped"] == 0
