"""The web view in a real browser: Debian's chromium, driven headless by selenium through
Debian's chromedriver, against `cat-follow run --sim --web` (simulated car, sample video).

Skips, saying why, only where chromium or chromedriver is not installed (setup.sh --dev
installs both when it runs as root, as in CI).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from cat_follow.robot.client import send_line

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None or DRIVER is None,
                       reason="Debian's chromium and chromium-driver are not installed (run ./setup.sh --dev "
                              "as root, or: sudo apt-get install chromium chromium-driver)"),
]


def wait_for(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        value = cond()
        if value is not None and value is not False and (isinstance(value, np.ndarray) or value):
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Service:
    """`cat-follow run --sim --web 127.0.0.1:0`; learns the port from its log."""

    def __init__(self, env: dict[str, str], sock: Path) -> None:
        self.sock = sock
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cat_follow", "run", "--sim", "--socket", str(sock), "--web", "127.0.0.1:0"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self._url()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            self.lines.put(line)

    def _url(self) -> str:
        t_end = time.monotonic() + 60
        while time.monotonic() < t_end:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            if "web view on " in line:
                return line.split("web view on ", 1)[1].split()[0]
        raise AssertionError("the service did not report its web view:\n" + "".join(self.log))

    def status(self) -> dict[str, Any]:
        return dict(json.loads(send_line([self.sock], "status")))

    def close(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


@pytest.fixture
def service(cli_env: dict[str, str]) -> Iterator[Service]:
    d = Path(tempfile.mkdtemp(prefix="cfw", dir="/tmp"))
    svc = Service(cli_env, d / "s.sock")
    yield svc
    assert svc.close() == 0, "".join(svc.log[-20:])
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    profile = tempfile.mkdtemp(prefix="cf-chromium-")
    opts = webdriver.ChromeOptions()
    assert CHROMIUM is not None and DRIVER is not None
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1100,900"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=DriverService(executable_path=DRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def stream_pixels(driver: Any) -> np.ndarray:
    from selenium.webdriver.common.by import By

    png = driver.find_element(By.ID, "stream").screenshot_as_png
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)


def test_page_shows_the_stream_and_its_buttons_drive_the_robot(service: Service, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    browser.get(service.url)
    wait_for(lambda: browser.execute_script(
        "const i = document.getElementById('stream'); return i.complete && i.naturalWidth > 0"), 30, "a frame")
    wait_for(lambda: browser.find_element(By.ID, "state").text not in ("", "…", "NO CONNECTION"), 15, "status")
    px = wait_for(lambda: (lambda p: p if p is not None and float(p.std()) > 20 else None)(stream_pixels(browser)),
                  15, "a stream with content")
    assert px.shape[0] > 100 and px.shape[1] > 100
    assert float(px.std()) > 20 and len(np.unique(px.reshape(-1, 3), axis=0)) > 500  # a picture, not blank
    first = browser.execute_script("return document.getElementById('stream').naturalWidth")
    assert first == 640

    # a location from the form: the robot leaves IDLE with that target
    assert service.status()["state"] == "idle"
    gx, gy = browser.find_element(By.ID, "gx"), browser.find_element(By.ID, "gy")
    gx.clear()
    gx.send_keys("1.5")
    gy.clear()
    gy.send_keys("0.3")
    browser.find_element(By.CSS_SELECTOR, "#goto button").click()
    st = wait_for(lambda: (lambda s: s if s["state"] != "idle" and s["target"] == [1.5, 0.3] else None)(
        service.status()), 10, "the state to change after cat_location")
    assert st["target"] == [1.5, 0.3]
    assert "OK" in browser.find_element(By.ID, "answer").text
    # every animal tracked, with its id and class belief, and which one is followed (the table is
    # redrawn every poll: read its text, not its elements)
    def facts() -> str:
        return str(browser.execute_script("return document.getElementById('facts').innerText"))

    followed: set[int] = set()

    def followed_on_page() -> bool:
        followed.add(service.status().get("followed_track") or 0)
        m = re.search(r"#(\d+) cat [\d.]+ \(followed\)", facts())
        return m is not None and int(m.group(1)) in followed

    assert wait_for(lambda: any(line.startswith("tracks") and "#" in line for line in facts().splitlines()),
                    10, "a tracks row")
    assert wait_for(followed_on_page, 15, "the followed track on the page, as status names it")
    if os.environ.get("CAT_FOLLOW_WEB_SCREENSHOT"):  # the README's picture, with a box in view
        time.sleep(1.0)
        wait_for(lambda: (service.status().get("last_bbox") or {}).get("source"), 10, "a box")
        time.sleep(0.3)
        browser.save_screenshot(os.environ["CAT_FOLLOW_WEB_SCREENSHOT"])

    # Stop: IDLE, motors stopped
    browser.find_element(By.ID, "stop").click()
    st = wait_for(lambda: (lambda s: s if s["state"] == "idle" else None)(service.status()), 10, "IDLE after Stop")
    assert st["stop_reason"] == "stop command"
    st = wait_for(lambda: (lambda s: s if s["motors"]["speed"] == 0 else None)(service.status()), 5, "speed 0")
    assert st["motors"]["speed"] == 0
    wait_for(lambda: browser.find_element(By.ID, "state").text == "IDLE", 5, "the page to show IDLE")

    # a click on the camera view follows the cat there (POST /target): the idle robot looks for it
    browser.execute_script("""const r = arguments[0].getBoundingClientRect();
        arguments[0].dispatchEvent(new MouseEvent('click', {clientX: r.left + r.width / 2,
                                                            clientY: r.top + r.height / 2, bubbles: true}));""",
                           browser.find_element(By.ID, "stream"))
    wait_for(lambda: "follow the cat at (0.50, 0.50): OK" in browser.find_element(By.ID, "answer").text, 10,
             "the click's answer on the page")
    wait_for(lambda: service.status()["state"] != "idle", 10, "the robot to leave IDLE after the click")
    browser.find_element(By.ID, "stop").click()
    wait_for(lambda: service.status()["state"] == "idle", 10, "IDLE after Stop again")

    # a click on the plot sends a location too
    plot = browser.find_element(By.ID, "plot")
    browser.execute_script("""const r = arguments[0].getBoundingClientRect();
        arguments[0].dispatchEvent(new MouseEvent('click', {clientX: r.left + r.width / 2,
                                                            clientY: r.top + r.height / 4, bubbles: true}));""",
                           plot)
    st = wait_for(lambda: (lambda s: s if s["state"] != "idle" and s["target"] else None)(service.status()), 10,
                  "a location from a click on the plot")
    assert st["target"][0] > 0.5  # above the car's position on the plot = ahead of it


class OtherSite:
    """Another web site on this machine (another port of 127.0.0.1, so the same "site" to the
    browser): a page of ``n`` <img> pointing at the robot's stream, without the token."""

    def __init__(self, target_port: int, n: int) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        imgs = "".join(f'<img src="http://127.0.0.1:{target_port}/stream.mjpg?n={i}" width="32">' for i in range(n))
        body = f"<!doctype html><title>other</title>{imgs}".encode()

        class Page(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_another_pages_img_tags_without_the_token_lock_nobody_out(service: Service, browser: Any) -> None:
    from urllib.error import HTTPError
    from urllib.parse import urlsplit
    from urllib.request import urlopen

    parts = urlsplit(service.url)
    assert parts.query.startswith("token=") and len(parts.query) > 20  # a token on loopback too
    with pytest.raises(HTTPError) as refused:
        urlopen(f"http://127.0.0.1:{parts.port}/", timeout=5)
    assert refused.value.code == 401 and b"token" in refused.value.read()
    other = OtherSite(int(parts.port or 0), 20)
    try:
        browser.get(other.url)
        wait_for(lambda: browser.execute_script(
            "return [...document.images].every((i) => i.complete && i.naturalWidth === 0)"), 15,
                 "the other page's 20 <img> to be refused")
        other_tab = browser.current_window_handle
        browser.switch_to.new_window("tab")  # the other page stays open in its tab
        browser.get(service.url)
        wait_for(lambda: browser.execute_script(
            "const i = document.getElementById('stream'); return i.complete && i.naturalWidth > 0"), 30,
                 "the user's stream")
        with urlopen(f"http://127.0.0.1:{parts.port}/path.json?{parts.query}", timeout=5) as r:
            stream = json.loads(r.read())["stream"]
        assert stream["viewers"] == 1 and stream["refused"] == 0, stream
        browser.switch_to.window(other_tab)
        assert browser.execute_script("return document.images.length") == 20
    finally:
        other.close()
