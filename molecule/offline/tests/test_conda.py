"""An environment built by the conda backend on the bundle's builder and
carried ready-made (its packages also in the bundle's channel), used through
the hub: its kernel is offered next to the pip one and runs code.

The packages are those of the test channel of tests/conda_channel.py
(Debian's Python, PyPI wheels repackaged, a demo package), which bundle.yml
copied into the bundle; conda-forge itself is out of reach here.
"""
import json

from hubfixtures import account

ENV = "/opt/hdfhub/envs/conda-demo"


def test_environment_is_root_owned_and_read_only_to_users(host):
    env = host.file(ENV)
    assert (env.user, env.group, env.mode) == ("root", "root", 0o755)
    # Nothing in it is owned by anyone else or writable by group or others.
    assert host.check_output(f"find {ENV} ! -type l \\( ! -user root -o -perm /022 \\) -print") == ""
    assert host.run(f"runuser -u {account('alice')} -- touch {ENV}/lib/x").rc != 0


def test_packages_are_the_bundles(host):
    """Built on the builder from its channel and carried ready-made (the
    record names that channel): the package is the one the bundle's channel
    holds, which a fallback install would take."""
    record = json.loads(host.check_output(f"cat {ENV}/conda-meta/hdfhub-demo-*.json"))
    assert record["url"].endswith(f"/noarch/{record['fn']}")
    assert host.file(f"/opt/hdfhub/bundle/conda/noarch/{record['fn']}").sha256sum == record["sha256"]
    # The installer keeps its cache root-only.
    assert host.file("/var/cache/hdfhub/rattler").mode == 0o700


def test_kernelspec_starts_the_environments_python(host):
    spec = json.loads(host.file("/usr/local/share/jupyter/kernels/conda-demo/kernel.json")
                      .content_string)
    assert spec["argv"][0] == f"{ENV}/bin/python"
    assert spec["display_name"] == "Conda demo"


def test_conda_kernel_runs_code_through_the_hub(host, alice_server):
    r = alice_server.api("POST", "/user/alice/api/kernels", json={"name": "conda-demo"})
    assert r.status_code == 201, r.text
    kernel = r.json()["id"]
    try:
        ws = alice_server.connect(kernel)
        try:
            out = alice_server.execute(ws, """
import json, os, sys, h5py, numpy as np, hdfhub_demo
with h5py.File("conda-check.h5", "w") as f:
    f.create_dataset("x", data=np.arange(100), compression="gzip")
with h5py.File("conda-check.h5") as f:
    total = int(f["x"][()].sum())
print(json.dumps({"prefix": sys.prefix, "uid": os.getuid(),
                  "sum": total, "greeting": hdfhub_demo.greet("alice")}))
""")
        finally:
            ws.close()
    finally:
        alice_server.delete_kernel(kernel)
    got = json.loads(out)
    assert got["prefix"] == ENV
    assert got["uid"] == host.user(account("alice")).uid
    assert got["sum"] == 4950
    assert got["greeting"] == "hello alice from the hdfhub test channel"
