"""Browser tests: pytest-playwright driving Debian's Chromium against the live server, with
axe-core (from npm, see package.json) injected to check accessibility on each page visited."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.paths import REPO_ROOT

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make to
# prepare data are synchronous and safe there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
AXE = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            "Debian's Chromium is missing: run `make system-deps` (tools/ensure-system-deps)"
        )
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    # axe is injected as an inline script, which our CSP (rightly) forbids to pages.
    return {**browser_context_args, "bypass_csp": True, "locale": "fr-FR"}


def assert_accessible(page: Any) -> None:
    """axe-core finds no serious or critical violation on the current page."""
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `make system-deps` (npm ci)")
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in {"serious", "critical"}
    ]
    assert serious == [], f"{page.url}: {serious}"
