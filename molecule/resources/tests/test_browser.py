"""The attendee's path, in a real browser: Debian's Chromium, driven by
Playwright, through nginx and TLS. It logs in on the hub's login page, waits
for JupyterLab, opens a notebook, runs all cells and reads the kernel's HDF5
output off the page. Screenshots go to artifacts/screenshots/ (kept by CI).

Runs where the scenario sets HDFHUB_TEST_BROWSER (molecule/default).
"""
import base64
import hashlib
import os
import pathlib
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hubfixtures import HTTPS, TLS_DIR, HubUser, password

pytestmark = pytest.mark.skipif(not os.environ.get("HDFHUB_TEST_BROWSER"),
                                reason="this scenario runs no browser")
CHROMIUM = "/usr/bin/chromium"
SHOTS = pathlib.Path(__file__).resolve().parents[3] / "artifacts" / "screenshots"
# Quiet and offline-friendly: no sign-in, sync, update or metrics traffic.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def spki_sha256(host):
    """Base64 SHA-256 of the hub certificate's public key: Chromium then trusts
    exactly this certificate's key, as a browser with the hub's CA installed would."""
    cert = x509.load_pem_x509_certificate(
        host.file(f"{TLS_DIR}/server.crt").content_string.encode())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture(scope="module")
def browser(host):
    playwright = pytest.importorskip("playwright.sync_api").sync_playwright().start()
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True,
        args=FLAGS + [f"--ignore-certificate-errors-spki-list={spki_sha256(host)}"])
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(120_000)
    yield page
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{request.node.name.split('[')[0]}.png"), full_page=True)
    context.close()


def notebook(*sources):
    # The kernelspec the hub registers as default, so no "Select Kernel" dialog.
    kernelspec = {"name": "hdf5", "display_name": "Python 3 (HDF5)", "language": "python"}
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": kernelspec},
            "cells": [{"cell_type": "code", "metadata": {}, "execution_count": None,
                       "outputs": [], "source": source, "id": f"cell{i}"}
                      for i, source in enumerate(sources)]}


def log_in(page, name):
    page.goto(f"{HTTPS}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", password(name))
    page.click("#login_submit")
    page.wait_for_selector("#jp-main-dock-panel")  # JupyterLab is up


def run_all_cells(page):
    page.wait_for_selector(".jp-Notebook .jp-Cell")
    # The status bar shows the kernel ready, as an attendee would wait for it.
    page.get_by_text("Python 3 (HDF5) | Idle").wait_for()
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")


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
    mean = host.check_output(
        "/opt/hdfhub/envs/hdf5/bin/python -c 'import h5py, hdf5plugin; "
        "f = h5py.File(\"/srv/hdfhub/shared/data/sample.h5\"); "
        "print(\"%.2f\" % f[\"climate/temperature\"][0].mean())'")
    bob = HubUser("bob", ca_file).login()
    bob.start()
    try:
        log_in(page, "bob")
        page.goto(f"{HTTPS}/user/bob/lab/tree/shared/featured/01-h5py-basics.ipynb")
        run_all_cells(page)
        page.wait_for_selector(
            f".jp-OutputArea-output:has-text('mean temperature on day 1: {mean} K')")
        # The last cell wrote into bob's home, not the shared directory.
        page.wait_for_selector(".jp-OutputArea-output:has-text('my-first.h5 (18,)')")
    finally:
        bob.stop()
