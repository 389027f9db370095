"""End-to-end: the real ``bwv demo`` and ``bwv serve`` (embedded, as ``make run``) in subprocesses, driven
through Debian's Chromium by Playwright. No browser is downloaded: Playwright only drives /usr/bin/chromium.

Every test takes screenshots into tests/e2e/screenshots/ (kept on every run; the README shows some).

The fixtures are package-scoped, not session-scoped: Playwright's sync API runs an event loop of its own,
which must be gone before the asynchronous integration tests run theirs on the same thread.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.helpers import ROOT, bin_path, free_port

CHROMIUM = os.environ.get("BWV_TEST_CHROMIUM", "/usr/bin/chromium")
SECRET = "e2e-secret-key-not-for-production"
# As the machine's notes say: without the background-networking flags Chromium keeps dialling out.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@dataclass
class Console:
    base: str
    data_dir: Path
    env: dict[str, str]
    demo_output: str

    def url(self, path: str) -> str:
        return self.base + path

    def bwv(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([bin_path(), *args], env=self.env, capture_output=True, text=True, timeout=120, input=input)

    def token(self, sub: str, *roles: str) -> str:
        p = self.bwv("token", "issue", "--sub", sub, *[x for r in roles for x in ("--role", r)])
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()

    def api(self, sub: str, *roles: str) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.token(sub, *roles)}"},
                            timeout=60)

    def demo_recording(self, what: str) -> str:
        """The id of a demo recording by its description in ``bwv demo``'s output (e.g. 'street stop')."""
        m = re.search(rf"{re.escape(what)}[^\n]*?: \S+/v1/recordings/(\S+)", self.demo_output)
        assert m, self.demo_output
        return m.group(1)


# People the test identity provider knows, with the roles claim it asserts for each.
IDP_PEOPLE = {"insp-oidc": ["supervisor", "not-a-bodycam-role"], "visitor-oidc": [], "pc-101": ["officer"]}


@pytest.fixture(scope="package")
def idp():
    from tests.fixtures.idp import RunningProvider

    with RunningProvider(IDP_PEOPLE) as provider:
        yield provider


@pytest.fixture(scope="package")
def console(tmp_path_factory, idp) -> Iterator[Console]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make deps` (it installs Debian's chromium package)")
    data = tmp_path_factory.mktemp("e2e") / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BWV_")}
    env.update(BWV_DATA_DIR=str(data), BWV_SECRET_KEY=SECRET, BWV_POLICY_DIR=str(ROOT / "policies"),
               BWV_LOG_LEVEL="WARNING", BWV_SAR_DEADLINE_INTERVAL_S="2", COLUMNS="200", NO_COLOR="1",
               BWV_OIDC_ISSUER=idp.issuer, BWV_OIDC_CLIENT_ID="bodycam-console",
               BWV_OIDC_CLIENT_SECRET="idp-test-client-secret")
    demo = subprocess.run([bin_path(), "demo", "--port", str(port)], env=env, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr
    log = (data.parent / "serve.log").open("w")
    proc = subprocess.Popen([bin_path(), "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"bwv serve did not start: {(data.parent / 'serve.log').read_text()[-2000:]}")
        time.sleep(0.2)
    try:
        yield Console(base=base, data_dir=data, env=env, demo_output=demo.stdout)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, console, request):
    """A fresh browser profile (no cookies) per test, on a laptop-sized screen."""
    context = browser.new_context(base_url=console.base, viewport={"width": 1366, "height": 900}, locale="en-GB")
    context.set_default_timeout(20_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    # Name the failing URL (the console message does not); a page's own 4xx answer is what a test checks.
    pg.on("response", lambda r: errors.append(f"{r.status} {r.url}")
          if r.status >= 400 and r.request.resource_type not in ("document", "fetch", "xhr") else None)
    yield pg
    context.close()
    # A page that throws (or breaks the CSP) is a defect, even when the test's assertions pass.
    assert not [e for e in errors if not e.startswith("Failed to load resource")], errors
