"""The deploy-time check runs featured notebooks before anyone has read
them, so it runs them confined: no network, bounded memory (no swap) and
bounded tasks. The probe notebook passes only if all three hold."""
from hubfixtures import THREADS, run_site, wait_for, write_notebook

PORT = 8765
# Each assertion fails where the sandbox lets the notebook do the thing.
PROBE = """
import socket, subprocess, sys
s = socket.socket()
s.settimeout(3)
assert s.connect_ex(({address!r}, {port})) != 0, "the check reached another machine"
r = subprocess.run([sys.executable, "-c", "bytearray(4 << 30)"])
assert r.returncode != 0, "4 GB was allowed"
""" + THREADS.format(limit=2000) + """
assert started < 2000, "2000 threads were allowed"
print("confined")
"""


def test_the_notebook_check_is_confined(host, peer, tmp_path):
    peer.listen(PORT)
    # Outside the sandbox, the peer answers.
    reach = f"python3 -c \"import socket; socket.create_connection(('{peer.peer_address}', {PORT}), 3)\""
    wait_for(lambda: host.run(reach).rc == 0, 30, what="the peer's listener")
    notebook = write_notebook(tmp_path / "confinement-probe.ipynb",
                              PROBE.format(address=peer.peer_address, port=PORT))
    # Published once it passes; the next converge (test_upgrade.py's) takes
    # it away again, as the inventory does not list it.
    run = run_site({"hdfhub_featured_notebooks": [str(notebook)]}, tags=["content"])
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
