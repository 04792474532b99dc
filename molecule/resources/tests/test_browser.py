"""The attendee's path, in a real browser (browserfixtures): log in on the
hub's login page, wait for JupyterLab, open a notebook, run all cells and
read the kernel's HDF5 output off the page."""
import uuid

from browserfixtures import (browser, log_in, needs_browser, notebook, page,  # noqa: F401
                             run_all_cells, run_featured_h5py_notebook, sample_day1_mean)
from hubfixtures import HTTPS, HubUser

pytestmark = needs_browser


def test_attendee_logs_in_and_runs_a_notebook(page, ca_file):
    # A notebook in alice's home that writes a token only this run knows into
    # an HDF5 attribute and prints it back from the file.
    token = uuid.uuid4().hex
    alice = HubUser("alice", ca_file).login()
    alice.start()
    put = alice.api("PUT", "/user/alice/api/contents/browser-check.ipynb", json={
        "type": "notebook", "format": "json", "content": notebook(
            "import h5py\n"
            "with h5py.File('browser-check.h5', 'w') as f:\n"
            f"    f.attrs['token'] = '{token}'",
            "with h5py.File('browser-check.h5') as f:\n"
            "    print('read back', f.attrs['token'])")})
    assert put.status_code in (200, 201), put.text

    log_in(page, "alice")
    page.goto(f"{HTTPS}/user/alice/lab/tree/browser-check.ipynb")
    run_all_cells(page)
    output = page.wait_for_selector(f".jp-OutputArea-output:has-text('read back {token}')")
    assert token in output.inner_text()
    # hdf_env turns off JupyterLab's "official Jupyter news" prompt.
    assert page.get_by_text("official Jupyter news").count() == 0
    # The kernel's file is real: it is in alice's home on the host.
    saved = alice.api("GET", "/user/alice/api/contents/browser-check.h5?content=0").json()
    assert saved["type"] == "file" and saved["size"] > 0


def test_attendee_runs_a_featured_notebook(page, ca_file, host):
    """The shipped h5py notebook, opened from ~/shared as an attendee would,
    prints the sample file's day-1 mean (computed here from the same file)."""
    mean = sample_day1_mean(host)
    bob = HubUser("bob", ca_file).login()
    bob.start()
    try:
        log_in(page, "bob")
        page.goto(f"{HTTPS}/user/bob/lab/tree/shared/featured/01-h5py-basics.ipynb")
        run_featured_h5py_notebook(page, mean)
    finally:
        bob.stop()
