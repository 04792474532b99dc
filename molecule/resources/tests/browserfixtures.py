"""Browser fixtures and steps: Debian's Chromium, driven by Playwright,
through nginx and TLS, as an attendee's browser. Screenshots go to
artifacts/screenshots/ (kept by CI). Test modules import what they use.

Runs where the scenario sets HDFHUB_TEST_BROWSER (molecule/default, people).
"""
import base64
import hashlib
import os
import pathlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hubfixtures import HTTPS, TLS_DIR, password

needs_browser = pytest.mark.skipif(not os.environ.get("HDFHUB_TEST_BROWSER"),
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


def sample_day1_mean(host):
    """What the featured h5py notebook prints, computed on the host from the same file."""
    return host.check_output(
        "/opt/hdfhub/envs/hdf5/bin/python -c 'import h5py, hdf5plugin; "
        "f = h5py.File(\"/srv/hdfhub/shared/data/sample.h5\"); "
        "print(\"%.2f\" % f[\"climate/temperature\"][0].mean())'")


def run_featured_h5py_notebook(page, mean):
    """Run all cells of the open 01-h5py-basics notebook and wait for its output."""
    run_all_cells(page)
    page.wait_for_selector(
        f".jp-OutputArea-output:has-text('mean temperature on day 1: {mean} K')")
    # The last cell wrote into the user's home, not the shared directory.
    page.wait_for_selector(".jp-OutputArea-output:has-text('my-first.h5 (18,)')")
