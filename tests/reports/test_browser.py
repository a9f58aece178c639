"""The reports a reviewer opens, checked in headless Chromium: the runs index and one evaluation
report load without a console error, every local link and resource on them answers 200 over
HTTP, nothing points outside the served folder, and a screenshot of each page is kept.

The reports folder is built here with the library's own renderers on tiny data, served by
``http.server`` on 127.0.0.1. The test skips only when Chromium or chromedriver is missing and
``MTREC_REQUIRE_BROWSER`` is unset; ``.ci/run`` installs both and sets it, so CI never skips.
Screenshots land in the pytest temporary folder and, when ``MTREC_ARTIFACTS_DIR`` is set, are
copied there too.

The same checks run against a real reports folder (after ``make pipeline``):
``.venv/bin/python tests/reports/test_browser.py reports``.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

if TYPE_CHECKING:
    from mtrec.evaluation.results import EvaluationResult
    from mtrec.training.history import TrainingHistory

REQUIRE_ENV = "MTREC_REQUIRE_BROWSER"
ARTIFACTS_ENV = "MTREC_ARTIFACTS_DIR"
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAME = "chromedriver"
WINDOW = (1366, 900)
"""A laptop screen: the size a reviewer reads the pages at."""
MAX_SCREENSHOT_HEIGHT = 6000

ALLOWED_EXTERNAL: tuple[str, ...] = ()
"""URL prefixes a page may still link to outside the served folder. Empty on purpose: the
pages are self-contained, so a reviewer offline or behind a proxy sees all of them. Add a prefix
here only with a comment saying why the page cannot work without it."""

INLINE_SCHEMES = ("data", "blob", "about")
"""Schemes whose content is in the page itself, so there is nothing to fetch."""


@dataclass
class PageCheck:
    """What one page showed in the browser."""

    url: str
    console_errors: list[str] = field(default_factory=list)
    broken_links: list[str] = field(default_factory=list)
    """``<url>: <status or reason>`` for each local href/src/resource that did not answer 200."""
    external_links: list[str] = field(default_factory=list)
    local_links: list[str] = field(default_factory=list)
    screenshot: Path | None = None

    @property
    def problems(self) -> list[str]:
        return (
            [f"console error: {m}" for m in self.console_errors]
            + [f"broken link: {m}" for m in self.broken_links]
            + [f"external link: {m}" for m in self.external_links]
        )


def find_browser() -> tuple[str, str] | None:
    """(browser, chromedriver) paths on PATH, or ``None`` when either is missing."""
    browser = next((path for name in BROWSER_NAMES if (path := shutil.which(name))), None)
    driver = shutil.which(DRIVER_NAME)
    return (browser, driver) if browser and driver else None


def browser_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() not in ("", "0", "false", "no")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A browser that drops a connection mid-file (a new page, a closed tab) is not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def start_chromium(browser: str, driver: str) -> webdriver.Chrome:
    """Headless Chromium that records the console; the paths are given, so Selenium never
    tries to download a browser or a driver of its own."""
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    chrome.set_page_load_timeout(60)
    return chrome


_LINKS_JS = """
return Array.from(document.querySelectorAll('[href],[src]')).flatMap(e =>
  ['href', 'src'].filter(a => e.hasAttribute(a)).map(a => e.getAttribute(a)));
"""
_RESOURCES_JS = "return performance.getEntriesByType('resource').map(e => e.name);"
_HAS_ANCHOR_JS = (
    "return !!(document.getElementById(arguments[0]) || "
    "document.getElementsByName(arguments[0]).length);"
)


def _status(url: str) -> str | None:
    """``None`` when ``url`` answers 200, else the status or the reason."""
    try:
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(request, timeout=10) as response:
            return None if response.status == 200 else str(response.status)
    except urllib.error.HTTPError as error:
        return str(error.code)
    except (urllib.error.URLError, OSError) as error:
        return type(error).__name__


def check_page(
    chrome: webdriver.Chrome, url: str, screenshot: Path, settle_s: float = 0.5
) -> PageCheck:
    """Open ``url``; collect SEVERE console messages, broken local links and resources,
    external links; save a full-page screenshot (capped at ``MAX_SCREENSHOT_HEIGHT``)."""
    chrome.get_log("browser")  # drop what an earlier page left
    chrome.set_window_size(*WINDOW)
    chrome.get(url)
    WebDriverWait(chrome, 30).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )
    time.sleep(settle_s)  # let deferred scripts run (and fail) before reading the console
    result = PageCheck(url=chrome.current_url)
    origin = urlsplit(url).netloc

    targets = list(chrome.execute_script(_LINKS_JS)) + list(chrome.execute_script(_RESOURCES_JS))
    checked: set[str] = set()
    for raw in targets:
        absolute = urljoin(result.url, raw.strip())
        parts = urlsplit(absolute)
        if parts.scheme in INLINE_SCHEMES:
            continue
        if parts.scheme not in ("http", "https") or parts.netloc != origin:
            if not absolute.startswith(ALLOWED_EXTERNAL):
                result.external_links.append(raw)
            continue
        document, fragment = urldefrag(absolute)
        if document == urldefrag(result.url)[0]:
            if fragment and not chrome.execute_script(_HAS_ANCHOR_JS, fragment):
                result.broken_links.append(f"{raw}: no element with id or name {fragment!r}")
            continue
        if document in checked:
            continue
        checked.add(document)
        result.local_links.append(document)
        if (problem := _status(document)) is not None:
            result.broken_links.append(f"{raw}: {problem}")

    result.console_errors = [
        entry["message"] for entry in chrome.get_log("browser") if entry["level"] == "SEVERE"
    ]
    # The window includes what the viewport does not (the horizontal bar, if any).
    height, frame = chrome.execute_script(
        "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]"
    )
    height = max(WINDOW[1], min(int(height) + int(frame), MAX_SCREENSHOT_HEIGHT))
    chrome.set_window_size(WINDOW[0], height)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    if not chrome.save_screenshot(str(screenshot)):
        raise RuntimeError(f"Chromium could not save a screenshot of {url}")
    result.screenshot = screenshot
    chrome.set_window_size(*WINDOW)
    return result


def keep_artifact(path: Path) -> None:
    """Copy ``path`` to ``$MTREC_ARTIFACTS_DIR`` when set, so CI can keep it."""
    target = os.environ.get(ARTIFACTS_ENV)
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, Path(target) / path.name)


# --- the reports folder, built with the library's renderers on tiny data ---

RUN = "training_pipeline-2026_01_01-00_00_00_000000"
RANKING = {
    "ndcg@10": 0.12,
    "recall@10": 0.11,
    "hit@10": 0.46,
    "mrr@10": 0.22,
    "ndcg@20": 0.15,
    "recall@20": 0.19,
    "hit@20": 0.58,
    "mrr@20": 0.23,
}
POPULARITY = {name: round(value * 0.7, 4) for name, value in RANKING.items()}


def _metrics() -> EvaluationResult:
    from mtrec.evaluation.results import EvaluationResult

    return EvaluationResult.model_validate(
        {
            "valid": {"ndcg@10": 0.1},
            "test": {**RANKING, "watch_auc": 0.84, "like_auc": 0.8, "rating_rmse": 0.97},
            "baselines": {"popularity": POPULARITY},
            "slices": {
                "user_activity_ndcg@10": [
                    {"bucket": "1-20", "count": 40, "value": 0.09},
                    {"bucket": "21+", "count": 60, "value": 0.14},
                ],
                "cold_items": {"max_train_interactions": 5, "interactions": 12, "users": 7},
            },
            "beyond_accuracy": {"coverage": 0.31, "gini": 0.72, "novelty": 9.1},
        }
    )


def _history() -> TrainingHistory:
    from mtrec.training.history import EpochLog, TrainingHistory

    epochs = [
        EpochLog(
            epoch=e + 1,
            losses={"watch": 0.7 - 0.1 * e, "like": 0.6 - 0.05 * e, "total": 1.3 - 0.15 * e},
            weights={"watch": 1.0, "like": 0.5},
            valid={"ndcg@10": 0.05 + 0.02 * e},
            seconds=1.3,
        )
        for e in range(3)
    ]
    return TrainingHistory(best_epoch=3, best_valid={}, seconds=4.0, epochs=tuple(epochs))


def build_reports(root: Path) -> Path:
    """``root/reports`` with one run's three pages, ``latest`` and the index."""
    from conftest import make_interactions

    from mtrec.config import DriftConfig, ValidationConfig
    from mtrec.data.validation import validate_interactions
    from mtrec.reports.drift import run_drift_report
    from mtrec.reports.evaluation import render_evaluation_report
    from mtrec.reports.export import point_latest, write_index, write_run_reports
    from mtrec.reports.validation import render_validation_html

    interactions, items, users = make_interactions(n_users=20, n_items=30, per_user=8, seed=1)
    cut = interactions["timestamp"].quantile(0.8)
    train, test = (
        interactions[interactions["timestamp"] < cut],
        interactions[interactions["timestamp"] >= cut],
    )
    validation = validate_interactions(
        interactions, items, ValidationConfig(min_interactions_per_user=3), now=900_000_000
    )
    drift_html, drift = run_drift_report(train, test, items, users, DriftConfig(max_rows=200))
    metrics = _metrics()
    promotion = {"promote": True, "version": "3", "reason": "first version"}
    report = {
        **metrics.to_json(),
        "drift": drift.to_dict(),
        "promotion": promotion,
        "run": {"name": RUN, "id": "0"},
        "stage": "production",
    }
    pages = {
        "evaluation.html": render_evaluation_report(
            metrics, _history(), None, drift.to_dict(), promotion, (10, 20)
        ),
        "drift.html": drift_html,
        "validation.html": render_validation_html(validation),
    }
    recommendations = test[["user_id", "item_id"]].assign(rank=1)
    reports = root / "reports"
    run_dir = write_run_reports(reports / RUN, report, recommendations, pages)
    point_latest(reports, run_dir)
    write_index(reports)
    return reports


@pytest.fixture(scope="module")
def chrome() -> Iterator[webdriver.Chrome]:
    found = find_browser()
    if found is None:
        message = (
            f"{' or '.join(BROWSER_NAMES)} and {DRIVER_NAME} must both be on PATH "
            "(Debian: apt-get install chromium chromium-driver)"
        )
        if browser_required():
            pytest.fail(f"{REQUIRE_ENV} is set, but {message}")
        pytest.skip(message)
    driver = start_chromium(*found)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    reports = build_reports(tmp_path_factory.mktemp("browser"))
    with serve(reports) as base:
        yield base


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    assert width >= WINDOW[0] * 0.9 and height >= 300, (width, height)
    keep_artifact(path)


def test_index_loads_cleanly_and_links_to_each_page(chrome, served, shots):
    page = check_page(chrome, served + "index.html", shots / "index.png")

    assert page.problems == []
    cells = [td.text for td in chrome.find_elements("css selector", "td")]
    assert RUN in cells and "promoted" in cells and "0.1200" in cells
    expected = {f"{served}{RUN}/{name}.html" for name in ("evaluation", "drift", "validation")}
    assert expected <= set(page.local_links)
    _assert_png(page.screenshot)


def test_evaluation_report_loads_cleanly_with_its_charts(chrome, served, shots):
    page = check_page(chrome, f"{served}{RUN}/evaluation.html", shots / "evaluation.png")

    assert page.problems == []
    assert {f"{served}{RUN}/drift.html", f"{served}{RUN}/validation.html"} <= set(page.local_links)
    assert chrome.find_element("css selector", "td b").text == "0.1200"
    charts = chrome.find_elements("css selector", "svg polyline")
    assert len(charts) == 2 + 2 + 1  # two task losses, two task weights, one validation curve
    assert all(chart.size["width"] > 0 for chart in charts)
    _assert_png(page.screenshot)


def test_checker_catches_errors_broken_and_external_links(chrome, tmp_path):
    (tmp_path / "ok.html").write_text("<p>ok</p>")
    (tmp_path / "bad.html").write_text(
        "<!DOCTYPE html><html><head><link rel='icon' href='data:,'></head><body>"
        "<a href='ok.html'>ok</a><a href='missing.html'>missing</a><a href='#nowhere'>x</a>"
        "<a href='https://example.invalid/page'>away</a>"
        "<script>throw new Error('boom')</script></body></html>"
    )
    with serve(tmp_path) as base:
        page = check_page(chrome, base + "bad.html", tmp_path / "bad.png")

    assert page.local_links == [base + "ok.html", base + "missing.html"]
    assert page.broken_links == [
        "missing.html: 404",
        "#nowhere: no element with id or name 'nowhere'",
    ]
    assert page.external_links == ["https://example.invalid/page"]
    assert len(page.console_errors) == 1 and "boom" in page.console_errors[0]


def main(argv: list[str]) -> int:
    """Check the index and the latest run's three pages in a real reports folder."""
    reports = Path(argv[1] if len(argv) > 1 else "reports").resolve()
    found = find_browser()
    if found is None:
        print("chromium or chromedriver not found", file=sys.stderr)
        return 2
    out = Path(os.environ.get(ARTIFACTS_ENV) or reports / "screenshots")
    chrome = start_chromium(*found)
    failed = False
    try:
        with serve(reports) as base:
            for name in ("index", "evaluation", "drift", "validation"):
                path = "index.html" if name == "index" else f"latest/{name}.html"
                page = check_page(chrome, base + path, out / f"{name}.png", settle_s=2.0)
                failed |= bool(page.problems)
                print(f"{path}: {len(page.local_links)} local links, screenshot {page.screenshot}")
                for problem in page.problems:
                    print(f"  {problem}")
    finally:
        chrome.quit()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
