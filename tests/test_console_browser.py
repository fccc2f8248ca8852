"""The admin console in a real Chromium, driven by Playwright through its labels and button names.

proxyd runs with the fake GitHub/Copilot upstream (tests/conftest.py). Chromium is the one
``PROXYD_CHROMIUM`` names (CI installs Debian's ``chromium`` and sets it), else ``chromium`` on the
PATH; without one every test here is skipped with a line saying so. Each test keeps a screenshot
of every page it looked at under its temporary directory (``console-*.png``).

The console does not depend on the database (tests/test_console_api.py covers its queries on every
dialect): these tests run on SQLite.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect

from bench.fake_upstream import FakeUpstream
from proxyd.appkeys import CLIENT_KEYS, USAGE
from proxyd.config import Config
from tests.conftest import KNOWN_SECRETS, RunningProxy, run_proxy

# The page fetches after each change; on a machine busy with the rest of the suite five seconds can pass.
expect.set_options(timeout=20_000)

ADMIN_TOKEN = "console-admin-token-0123456789"
ALICE = "gho_" + "a" * 36
BOB = "gho_" + "b" * 36
PASSWORD = "console pass ☃ <b>"
KNOWN_SECRETS.update((ADMIN_TOKEN, PASSWORD))


def chromium_executable() -> str:
    named = os.environ.get("PROXYD_CHROMIUM")
    if named:
        if not (os.path.isfile(named) and os.access(named, os.X_OK)):
            pytest.fail(f"PROXYD_CHROMIUM={named} is not an executable file", pytrace=False)
        return named
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        "NO CHROMIUM: the admin console's browser tests did not run "
        "(apt-get install chromium, or set PROXYD_CHROMIUM to a Chromium executable)"
    )


@pytest.fixture
def proxy_config(config: Config, sqlite_only: None) -> Config:
    return dataclasses.replace(
        config, admin_token=ADMIN_TOKEN, admin_loopback=False, usage_flush_interval=0.05, shutdown_timeout=2.0
    )


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_executable()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable)
        try:
            yield launched
        finally:
            await launched.close()


@dataclasses.dataclass
class Console:
    """One browser tab on the console, recording what the page logs as errors."""

    page: Page
    proxy: RunningProxy
    shots: Path
    errors: list[str]

    async def open(self) -> None:
        response = await self.page.goto(f"{self.proxy.url}/admin")
        assert response is not None and response.status == 200

    async def sign_in(self, token: str = ADMIN_TOKEN) -> None:
        await self.page.get_by_label("Admin token").fill(token)
        await self.page.get_by_role("button", name="Sign in", exact=True).click()

    async def go(self, link: str) -> None:
        await self.page.get_by_role("link", name=link, exact=True).click()
        await expect(self.page.get_by_role("heading", name=link, level=1)).to_be_visible()

    async def shot(self, name: str) -> None:
        await self.page.screenshot(path=self.shots / f"console-{name}.png", full_page=True)

    def assert_no_errors(self) -> None:
        assert self.errors == [], self.errors


@pytest.fixture
async def console(browser: Browser, proxy: RunningProxy, tmp_path: Path) -> AsyncIterator[Console]:
    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    page = await context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        yield Console(page, proxy, shots, errors)
    finally:
        await page.screenshot(path=shots / "console-last.png", full_page=True)  # where a failed test stopped
        await context.close()


async def admin_call(http: aiohttp.ClientSession, proxy: RunningProxy, method: str, path: str, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with http.request(method, proxy.base_url + path, headers=headers, **kw) as response:
        assert response.status < 300, await response.text()
        return await response.json() if response.content_type == "application/json" else None


async def add_account(http: aiohttp.ClientSession, proxy: RunningProxy, name: str, token: str) -> str:
    proxy.upstream.state.add_github_token(token, login=name)
    created = await admin_call(http, proxy, "POST", "/api-keys", json={"name": name, "key": token})
    return str(created["id"])


async def chat(http: aiohttp.ClientSession, proxy: RunningProxy, key: str, model: str = "gpt-4o") -> int:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {key}"}
    async with http.post(f"{proxy.url}/v1/chat/completions", json=body, headers=headers) as response:
        await response.read()
        return response.status


# --------------------------------------------------------------------------- sign-in and the pages


async def test_sign_in_every_page_and_sign_out(console: Console, http: aiohttp.ClientSession) -> None:
    proxy, page = console.proxy, console.page
    await add_account(http, proxy, "alice <b>&amp;</b> ☃", ALICE)
    await console.open()
    await expect(page.get_by_label("Admin token")).to_be_visible()
    # Small and fast: the first paint comes well within a second on loopback.
    paint = await page.evaluate(
        "() => performance.getEntriesByName('first-contentful-paint').map((entry) => entry.startTime)"
    )
    assert len(paint) == 1 and paint[0] < 1000, paint
    await console.shot("sign-in")

    await console.sign_in("not-the-token")
    await expect(page.get_by_role("alert")).to_contain_text("Invalid admin token")
    # The refused sign-in is the one error the page logs: the browser reports the 401.
    assert len(console.errors) == 1 and "401" in console.errors[0], console.errors
    console.errors.clear()
    assert await page.get_by_label("Admin token").input_value() == ""  # the field is emptied after each try

    await console.sign_in()
    await expect(page.get_by_role("heading", name="Accounts", level=1)).to_be_visible()
    # The name is shown as text, markup and all; the masked token, plan and quota from GitHub beside it.
    row = page.get_by_role("row").filter(has_text="alice <b>&amp;</b> ☃")
    await expect(row).to_contain_text("gho_aaaaaa...aaaaa")
    await expect(row).to_contain_text("default")
    await expect(row).to_contain_text("individual")
    await expect(row).to_contain_text("ready")
    await console.shot("accounts")

    for link in ("Client keys", "Usage", "Requests", "Accounts"):
        await console.go(link)
        await console.shot(link.lower().replace(" ", "-"))

    # Nothing of the token in the page, its address or web storage; the session cookie is out of scripts' reach.
    assert ADMIN_TOKEN not in await page.content()
    assert ADMIN_TOKEN not in page.url
    storage = await page.evaluate("() => JSON.stringify([localStorage, sessionStorage, document.cookie])")
    assert storage == '[{},{},""]'
    cookies = await page.context.cookies()
    assert {c["path"] for c in cookies} == {"/admin", "/api/admin", "/api/api-keys", "/api/client-keys"}
    secret = cookies[0]["value"]
    for cookie in cookies:
        assert cookie["name"] == "proxyd_console" and cookie["value"] == secret
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["secure"] is False
        assert cookie["expires"] > 0  # not a browser-session cookie: it expires with the session

    # Signing out ends the session on the server: the old cookie no longer opens anything.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("Admin token")).to_be_visible()
    assert await page.context.cookies() == []
    async with http.get(f"{proxy.base_url}/api-keys", headers={"Cookie": f"proxyd_console={secret}"}) as response:
        assert response.status == 401
    await page.reload()
    await expect(page.get_by_label("Admin token")).to_be_visible()
    console.assert_no_errors()


async def test_accounts_add_rename_default_device_flow_and_delete(
    console: Console, http: aiohttp.ClientSession
) -> None:
    proxy, page = console.proxy, console.page
    proxy.upstream.state.add_github_token(BOB, login="bob")
    await console.open()
    await console.sign_in()
    await expect(page.get_by_role("heading", name="Accounts", level=1)).to_be_visible()
    await expect(page.get_by_text("No account yet")).to_be_visible()

    await page.get_by_role("button", name="Add account").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Name").fill("bob")
    await dialog.get_by_label("GitHub token").fill(BOB)
    await dialog.get_by_role("button", name="Add").click()
    bob = page.get_by_role("row").filter(has_text="bob")
    await expect(bob).to_contain_text("gho_bbbbbb...bbbbb")
    await expect(bob).to_contain_text("default")

    await bob.get_by_role("button", name="Rename").click()
    await dialog.get_by_label("Name").fill("bobby")
    await dialog.get_by_role("button", name="Save").click()
    bobby = page.get_by_role("row").filter(has_text="bobby")
    await expect(bobby).to_be_visible()

    # The device flow: the code is shown; once GitHub approves, the new account is listed.
    state = proxy.upstream.state
    state.device_interval = 0
    state.approve_device_after(1)
    await page.get_by_role("button", name="Add with GitHub device flow").click()
    await expect(dialog.locator(".device")).to_have_text(re.compile(r"^[A-Z0-9]{4}-[A-Z0-9]{4}$"))
    await expect(dialog).to_contain_text("https://github.com/login/device")
    await expect(dialog.get_by_role("status")).to_contain_text("Added Key:", timeout=15_000)
    await console.shot("device-flow")
    await dialog.get_by_role("button", name="Close").click()
    device_row = page.get_by_role("row").filter(has_text="Key:")
    await expect(device_row).to_be_visible()

    await device_row.get_by_role("button", name="Make default").click()
    await expect(device_row).to_contain_text("default")
    await expect(bobby.get_by_role("button", name="Make default")).to_be_visible()

    # An account Copilot rate-limited shows it cools down, why and until when.
    pool_key = await admin_call(http, proxy, "POST", "/client-keys", json={"name": "pool"})
    KNOWN_SECRETS.add(pool_key["key"])
    state.fail_next(429, headers={"retry-after": "600"}, path="/chat/completions", times=4)
    assert await chat(http, proxy, pool_key["key"]) == 429  # both accounts tried, both cooling down now
    await page.reload()
    await expect(bobby).to_contain_text(re.compile(r"cooling down \(rate_limited\) until \d{4}-\d\d-\d\d \d\d:\d\d"))
    await console.shot("accounts-cooling-down")

    await bobby.get_by_role("button", name="Delete").click()
    await expect(dialog).to_contain_text("Delete bobby?")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(bobby).to_be_visible()
    await bobby.get_by_role("button", name="Delete").click()
    await dialog.get_by_role("button", name="Delete").click()
    await expect(bobby).to_have_count(0)
    assert [key.name for key in await proxy.store.find_all()] == [(await proxy.store.find_all())[0].name]
    console.assert_no_errors()


async def test_client_key_secret_once_edit_and_revoke(console: Console, http: aiohttp.ClientSession) -> None:
    proxy, page = console.proxy, console.page
    await add_account(http, proxy, "alice", ALICE)
    await console.open()
    await console.sign_in()
    await console.go("Client keys")

    await page.get_by_role("button", name="New client key").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("Name").fill("ci ✓ <script>")
    await dialog.get_by_label("Models").fill("gpt-4o, gpt-4.1")
    await dialog.get_by_label("Requests per minute").fill("60")
    await dialog.get_by_role("button", name="Create").click()
    secret_box = page.get_by_role("region", name="New secret")
    await expect(secret_box).to_contain_text("shown only this once")
    secret = (await page.locator("#new-secret").text_content()) or ""
    assert re.fullmatch(r"pxd_[A-Za-z0-9_-]{43}", secret), secret
    KNOWN_SECRETS.add(secret)
    await expect(secret_box.get_by_role("button", name="Copy")).to_be_visible()
    await console.shot("client-key-secret")
    row = page.get_by_role("row").filter(has_text="ci ✓ <script>")
    await expect(row).to_contain_text(secret[:10])
    await expect(row).to_contain_text("gpt-4o, gpt-4.1")
    await expect(row).to_contain_text("60")

    assert await chat(http, proxy, secret) == 200  # the secret works
    await page.reload()
    await expect(page.get_by_role("heading", name="Client keys", level=1)).to_be_visible()
    await expect(row).to_be_visible()
    assert secret not in await page.content()  # gone for good

    await row.get_by_role("button", name="Edit").click()
    await dialog.get_by_label("Requests per minute").fill("")
    await dialog.get_by_label("Monthly requests").fill("500")
    await dialog.get_by_role("button", name="Save").click()
    await expect(row).to_contain_text("500")
    (stored,) = await proxy.app[CLIENT_KEYS].find_all()
    assert (stored.settings.rpm, stored.settings.monthly_requests) == (None, 500)

    await row.get_by_role("button", name="Revoke").click()
    await expect(dialog).to_contain_text("Revoke ci ✓ <script>?")
    await dialog.get_by_role("button", name="Revoke").click()
    await expect(row).to_have_count(0)
    await console.shot("client-key-revoked")
    assert await chat(http, proxy, secret) == 401  # the API refuses it now
    console.assert_no_errors()


async def test_usage_charts_show_the_requests_made(console: Console, http: aiohttp.ClientSession) -> None:
    proxy, page = console.proxy, console.page
    await add_account(http, proxy, "alice", ALICE)
    team = await admin_call(http, proxy, "POST", "/client-keys", json={"name": "team-λ"})
    solo = await admin_call(http, proxy, "POST", "/client-keys", json={"name": "solo"})
    KNOWN_SECRETS.update((team["key"], solo["key"]))
    for key, model, times in ((team["key"], "gpt-4o", 3), (team["key"], "gpt-4.1", 2), (solo["key"], "gpt-4o", 1)):
        for _ in range(times):
            assert await chat(http, proxy, key, model) == 200
    assert await proxy.app[USAGE].flush()
    stats = await admin_call(http, proxy, "GET", "/admin/stats")
    assert stats["totalRequests"] == 6

    await console.open()
    await console.sign_in()
    await console.go("Usage")
    chart = page.get_by_role("figure", name="Requests per day by client key")
    await expect(chart.locator("rect.bar")).to_have_count(2)  # today's bar: one segment per key
    await expect(chart.get_by_role("list")).to_contain_text("team-λ")
    await expect(chart.get_by_role("list")).to_contain_text("solo")
    table = page.get_by_role("table", name="Usage by client key")
    await expect(table.get_by_role("row").filter(has_text="team-λ")).to_contain_text("5")
    # The totals match /api/admin/stats.
    await expect(table.locator("tfoot")).to_contain_text(str(stats["totalRequests"]))
    await expect(page.locator(".stat").filter(has_text="Total requests")).to_contain_text(str(stats["totalRequests"]))
    await console.shot("usage-by-client-key")

    await page.get_by_label("Split by").select_option(label="Model")
    chart = page.get_by_role("figure", name="Requests per day by model")
    await expect(chart.get_by_role("list")).to_contain_text("gpt-4.1")
    tokens = page.get_by_role("figure", name="Tokens per day by model")
    await expect(tokens.locator("rect.bar")).to_have_count(2)
    await expect(
        page.get_by_role("table", name="Usage by model").get_by_role("row").filter(has_text="gpt-4o")
    ).to_contain_text("4")
    await console.shot("usage-by-model")

    await page.get_by_label("Split by").select_option(label="Account")
    await page.get_by_label("Period").select_option(label="Last 48 hours, per hour")
    chart = page.get_by_role("figure", name="Requests per hour by account")
    await expect(chart.get_by_role("list")).to_contain_text("alice")
    await expect(page.get_by_role("table", name="Usage by account").locator("tfoot")).to_contain_text("6")
    await console.shot("usage-by-account-hourly")
    console.assert_no_errors()


async def test_requests_page_filters_and_pages(console: Console, http: aiohttp.ClientSession) -> None:
    proxy, page = console.proxy, console.page
    await add_account(http, proxy, "alice", ALICE)
    team = await admin_call(http, proxy, "POST", "/client-keys", json={"name": "team", "models": ["gpt-4o"]})
    KNOWN_SECRETS.add(team["key"])
    for _ in range(27):
        assert await chat(http, proxy, team["key"]) == 200
    assert await chat(http, proxy, team["key"], "gpt-4.1") == 403  # not among the key's models: refused, not logged
    assert await chat(http, proxy, ALICE, "gpt-4.1") == 200
    proxy.upstream.state.fail_next(500, path="/chat/completions", times=2)  # proxyd retries a 500 once
    assert await chat(http, proxy, ALICE, "gpt-4o-mini") == 500
    assert await proxy.app[USAGE].flush()

    await console.open()
    await console.sign_in()
    await console.go("Requests")
    log = page.get_by_role("table", name="Request log")
    await expect(page.get_by_text("29 requests", exact=True)).to_be_visible()
    await expect(page.get_by_text("Page 1 of 2")).to_be_visible()
    await expect(log.get_by_role("row")).to_have_count(26)  # the header and 25 rows, newest first
    await expect(log.get_by_role("row").nth(1)).to_contain_text("gpt-4o-mini")
    await console.shot("requests")
    await page.get_by_role("button", name="Next").click()
    await expect(page.get_by_text("Page 2 of 2")).to_be_visible()
    await expect(log.get_by_role("row")).to_have_count(5)

    await page.get_by_label("Status").select_option("5xx")
    await expect(page.get_by_text("1 request", exact=True)).to_be_visible()
    await expect(log.get_by_role("row").nth(1)).to_contain_text("500")
    await page.get_by_label("Status").select_option("")
    await page.get_by_label("Client key").select_option(label="team")
    await expect(page.get_by_text("27 requests", exact=True)).to_be_visible()
    await page.get_by_label("Client key").select_option("")
    # The page draws itself again for that choice: typing into the field it is about to replace would be lost.
    await expect(page.get_by_text("29 requests", exact=True)).to_be_visible()
    await page.get_by_label("Model").fill("gpt-4.1")
    await page.get_by_label("Model").press("Enter")
    await expect(page.get_by_text("1 request", exact=True)).to_be_visible()
    await expect(log.get_by_role("row").nth(1)).to_contain_text("alice")
    await console.shot("requests-filtered")
    console.assert_no_errors()


# --------------------------------------------------------------------------- another site


ATTACKER_PAGE = """<!doctype html><html><body>
<form id="f" method="post" action="{target}/api/client-keys" enctype="text/plain">
<input name='{{"name":"evil","x":"' value='"}}'></form>
<script>
window.fetchStatus = fetch("{target}/api/client-keys", {{method: "POST", credentials: "include",
  mode: "no-cors", headers: {{"Content-Type": "text/plain"}}, body: JSON.stringify({{name: "evil2"}})}})
  .then(() => "sent", (e) => String(e));
</script></body></html>"""


async def test_another_origin_cannot_use_the_session(
    console: Console, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """A page on another origin of the same site (another port: the cookie goes along) gets 403."""
    proxy, page = console.proxy, console.page
    await console.open()
    await console.sign_in()
    await expect(page.get_by_role("heading", name="Accounts", level=1)).to_be_visible()

    attacker = web.Application()
    html = ATTACKER_PAGE.format(target=proxy.url)

    async def attacker_page(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    attacker.router.add_get("/", attacker_page)
    runner = web.AppRunner(attacker)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    refused = "POST /api/client-keys 403"
    try:
        port = runner.addresses[0][1]
        with caplog.at_level(logging.INFO, logger="proxyd.access"):
            await page.goto(f"http://127.0.0.1:{port}/")
            # The fetch went out, cookie and all; its answer is opaque to the page (CORP even fails it).
            assert await page.evaluate("() => window.fetchStatus") in ("sent", "TypeError: Failed to fetch")
            assert sum(refused in record.getMessage() for record in caplog.records) == 1
            # The form, submitted as a navigation, is refused too.
            async with page.expect_navigation() as navigated:
                await page.evaluate("() => document.getElementById('f').submit()")
            response = await navigated.value
            assert response is not None and response.status == 403
            assert "console's own origin" in await page.content()
            assert sum(refused in record.getMessage() for record in caplog.records) == 2
        await console.shot("cross-site-refused")
    finally:
        await runner.cleanup()
    assert await proxy.app[CLIENT_KEYS].find_all() == []
    # The console itself still works: the session was not the problem, the origin was.
    await console.open()
    await console.go("Client keys")
    await expect(page.get_by_text("No client key yet.")).to_be_visible()


async def test_sign_in_with_the_admin_password(
    browser: Browser, proxy_config: Config, upstream: FakeUpstream, tmp_path: Path
) -> None:
    """With PROXYD_ADMIN_PASSWORD set the page offers the admin user and password too."""
    config = dataclasses.replace(proxy_config, admin_user="root", admin_password=PASSWORD)
    async with run_proxy(config, upstream) as proxy:
        context = await browser.new_context()
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            await page.goto(f"{proxy.url}/admin")
            await page.get_by_label("User").fill("root")
            await page.get_by_label("Password").fill(PASSWORD)
            await page.screenshot(path=tmp_path / "console-sign-in-password.png")
            await page.get_by_role("button", name="Sign in with password").click()
            await expect(page.get_by_role("heading", name="Accounts", level=1)).to_be_visible()
            await expect(page.get_by_text("signed in as root")).to_be_visible()
            assert PASSWORD not in await page.content()
        finally:
            await context.close()
    assert errors == []
