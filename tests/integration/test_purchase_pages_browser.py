"""The purchase pages in a real browser: headless Chromium over real HTTP, one screenshot per state.

The app runs as ``make run`` serves it (``scripts/local_api.py`` in its own
process, on a free port) over the test engine and this test's tables, so Pay
and Refund post their signed events to that server's own webhook for real.
The test sets purchases up in process (same tables) and reads the money back
through the API. Screenshots: ``.local/artefacts/pages/<state>.png``
(git-ignored), for a person to look at; the assertions are on the visible text.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import requests

from chalicelib.core import config
from scripts import ddb_local
from tests import purchase_helpers as ph

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / ".local" / "artefacts" / "pages"
BIG_COINS = "6,500 coins (5,000 + 1,500 bonus)"  # the 5,000-coin pack: 5,000 + 1,500 bonus for 349.99 USD


@pytest.fixture
def shop(economy):
    from chalicelib.purchases.packs import seed_packs

    seed_packs(economy.id)
    return economy


@pytest.fixture
def served(shop, monkeypatch, tmp_path: Path) -> Iterator[str]:
    """The app over HTTP on a free port, on this test's engine and tables; its base URL."""
    port = ddb_local.free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("COINS_PUBLIC_URL", "COINS_APP_URL")}
    env.update({k: v for k, v in ddb_local.DUMMY_AWS_ENV.items() if k not in env})
    env["COINS_PORT"] = str(port)  # where its own Pay posts the signed event: itself
    log = tmp_path / "api.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "scripts.local_api", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"the API did not answer within 60 s:\n{log.read_text()}"
            time.sleep(0.1)  # waiting for a process to listen, not for money
        # Checkouts made in process hand out links to the served app.
        monkeypatch.setenv("COINS_PUBLIC_URL", url)
        config.reset_settings()
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.fixture
def browser() -> Iterator[Any]:
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_path, ("chromium and chromedriver are needed: `bash scripts/bootstrap.sh` installs "
                                      "the Debian packages chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=800,700"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


class Page:
    """What the browser shows now."""

    def __init__(self, driver: Any) -> None:
        from selenium.webdriver.common.by import By

        self.heading = driver.find_element(By.TAG_NAME, "h1").text
        details = driver.find_elements(By.ID, "detail")
        self.detail = details[0].text if details else None
        self.buttons = [b.text for b in driver.find_elements(By.TAG_NAME, "button")]
        self.back = driver.find_element(By.ID, "back").get_attribute("href")
        self.text = driver.find_element(By.TAG_NAME, "body").text


def shot(driver: Any, state: str) -> Page:
    driver.save_screenshot(str(SHOTS / f"{state}.png"))
    return Page(driver)


def wait_for_heading(driver: Any, heading: str) -> None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # Mid-navigation the old page's heading goes stale (or there is none yet): look again.
    WebDriverWait(driver, 10, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(
        lambda d: d.find_element(By.TAG_NAME, "h1").text == heading, f"the heading never became {heading!r}")


def click(driver: Any, button: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, button).click()


def buy(shop, user: str, pack: str) -> Dict[str, Any]:
    resp = shop.api.post("/v1/checkout", {"user_id": user, "pack_id": pack})
    assert resp.status == 201, resp.body
    return resp.body


def money(shop, user: str, purchase: Dict[str, Any]) -> List[Any]:
    got = shop.api.get(f"/v1/users/{user}/wallet")
    w = got.body if got.status == 200 else {}
    p = shop.api.get(f"/v1/purchases/{purchase['purchase_id']}").body
    return [w.get("available"), w.get("debt"), w.get("frozen"), p["status"], p.get("failure_reason")]


def test_every_state_of_a_purchase_in_chromium(shop, served, browser) -> None:
    from chalicelib.purchases.expiry import expire_purchase

    index = f"{served}/"
    # pending: the payment page with Pay and Cancel
    alice = buy(shop, "alice", "coins_5000")
    browser.get(alice["checkout_url"])
    page = shot(browser, "pending")
    assert page.heading == "5,000 coins +30%" and f"{BIG_COINS} for 349.99 USD" in page.text
    assert page.buttons == ["Pay", "Cancel"] and page.back == index

    # Pay: the signed event goes to the served app's own webhook; the success page says what happened
    click(browser, "pay")
    wait_for_heading(browser, f"Already paid: {BIG_COINS} credited")
    page = shot(browser, "credited")
    assert browser.current_url == f"{served}/checkout/success?purchase_id={alice['purchase_id']}"
    assert page.detail == "5,000 coins +30% for 349.99 USD, in alice's wallet."
    assert page.buttons == ["Simulate a refund"] and page.back == index
    assert money(shop, "alice", alice) == [6500, 0, False, "credited", None]
    browser.get(alice["checkout_url"])  # the payment page again: paid, no Pay
    page = shot(browser, "already-paid")
    assert page.heading == f"Already paid: {BIG_COINS} credited" and page.buttons == ["Simulate a refund"]

    # refunded after spending: what was spent is debt, and the wallet is frozen
    assert shop.api.post("/v1/users/alice/spend", {"amount": 6000, "reason": "castle"}, key="s1").status == 200
    click(browser, "refund")
    wait_for_heading(browser, "This purchase was refunded")
    page = shot(browser, "refunded")
    assert page.detail == ("349.99 USD of 349.99 USD was refunded. 6,500 of its 6,500 coins were taken back: 500 "
                           "from the wallet, and 6,000 the buyer had already spent are owed as debt. The wallet is "
                           "frozen (reason debt) until the debt is settled from coins it gets later.")
    assert page.buttons == [] and money(shop, "alice", alice) == [0, 6000, True, "refunded", None]

    # cancelled: Cancel ends it; the page says so and offers no Pay
    bob = buy(shop, "bob", "coins_100")
    browser.get(bob["checkout_url"])
    click(browser, "cancel")
    wait_for_heading(browser, "This checkout was cancelled")
    page = shot(browser, "cancelled")
    assert browser.current_url == f"{served}/checkout/cancel?purchase_id={bob['purchase_id']}"
    assert page.detail == "No money moved. To buy coins, start a new purchase from the app (link below)."
    assert page.buttons == [] and page.back == index
    assert money(shop, "bob", bob) == [None, None, None, "expired", "cancelled"]

    # Pay pressed on a page opened before the checkout was cancelled elsewhere: refused, nothing moves
    carol = buy(shop, "carol", "coins_100")
    browser.get(carol["checkout_url"])
    assert Page(browser).buttons == ["Pay", "Cancel"]
    assert requests.post(f"{carol['checkout_url']}/cancel", allow_redirects=False, timeout=10).status_code == 303
    click(browser, "pay")
    wait_for_heading(browser, "409")
    page = shot(browser, "pay-refused")
    assert page.detail == "This checkout was cancelled. It can no longer be paid; nothing was charged."
    assert page.back == index and money(shop, "carol", carol) == [None, None, None, "expired", "cancelled"]

    # expired: the expiry job's own path
    dave = buy(shop, "dave", "coins_100")
    assert expire_purchase(dave["purchase_id"], "9999-01-01T00:00:00.000Z") == "expired"
    browser.get(dave["checkout_url"])
    page = shot(browser, "expired")
    assert page.heading == "This checkout expired" and page.buttons == []
    assert page.detail == "No money moved. To buy coins, start a new purchase from the app (link below)."

    # disputed: the wallet is frozen and the purchase's coins held
    erin = buy(shop, "erin", "coins_100")
    browser.get(erin["checkout_url"])
    click(browser, "pay")
    wait_for_heading(browser, "Already paid: 100 coins credited")
    dispute = ph.dispute(erin)
    dispute["data"]["object"]["payment_intent"] = "pi_local_" + erin["purchase_id"][4:]  # the local page's
    assert ph.deliver(shop.api, dispute).status == 200
    browser.get(f"{served}/checkout/success?purchase_id={erin['purchase_id']}")
    page = shot(browser, "disputed")
    assert page.heading == "This payment is disputed"
    assert page.detail == (f"The wallet is frozen (reason dispute:{erin['purchase_id']}) and 100 of this purchase's "
                           "coins are held until the dispute closes: won, they return to the wallet; lost, all its "
                           "coins are taken back.")

    # pending success page: the browser follows its refresh, and after the last one it stops and says so
    frank = buy(shop, "frank", "coins_100")
    browser.get(f"{served}/checkout/success?purchase_id={frank['purchase_id']}&poll=14")
    assert Page(browser).detail == "This page checks again every 2 s (check 15 of 15)."
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("&poll=15"), "the page did not refresh")
    page = shot(browser, "still-processing")
    assert page.heading == "Waiting for the payment…"
    assert page.detail == "Still processing — this page will not refresh again; reload later."
    assert money(shop, "frank", frank) == [None, None, None, "pending", None]
    shop.check()
