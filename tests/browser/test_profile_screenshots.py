"""Screenshots of the medical profile at phone and desktop width, and of the synthesis PDF's first
page: `make screenshots` writes them to docs/screenshots/ (CARNET_SCREENSHOTS_DIR); a normal run
writes them to a temporary directory and checks what a screenshot would show badly: no page
wider than the screen (no horizontal scrolling on a phone), no axe-core violation."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from carnet.identity.services import actor_for_user
from carnet.profile import synthesis
from tests.browser.conftest import assert_accessible
from tests.profile.support import fill_profile, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {
    "telephone": {"width": 390, "height": 844},
    "ordinateur": {"width": 1280, "height": 900},
}
PAGES = {
    "profil": "/profil/",
    "profil-allergies": "/profil/rubrique/allergies/",
    "profil-mesure-poids": "/profil/mesures/body-weight/",
    "profil-mesure-tension": "/profil/mesures/blood-pressure/",
}


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    wanted = os.environ.get("CARNET_SCREENSHOTS_DIR")
    directory = Path(wanted) if wanted else tmp_path / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def test_profile_screenshots_at_phone_and_desktop_width(
    page: Any, live_server: Any, personas: Any, output_dir: Path
) -> None:
    fill_profile(personas.patient)
    log_in(page, live_server, personas.patient)
    for device, viewport in VIEWPORTS.items():
        page.set_viewport_size(viewport)
        for name, path in PAGES.items():
            page.goto(live_server.url + path)
            page.wait_for_load_state("networkidle")
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{name} is {overflow}px wider than a {device} screen"
            assert_accessible(page)
            target = output_dir / f"{name}-{device}.png"
            page.screenshot(path=str(target), full_page=True)
            assert target.stat().st_size > 10_000


def test_synthesis_first_page_screenshot(personas: Any, output_dir: Path, tmp_path: Path) -> None:
    fill_profile(personas.patient)
    actor = actor_for_user(personas.patient.user)
    document = synthesis.render_synthesis(actor, patient_id=str(personas.patient.pk))
    pdf = tmp_path / "synthese.pdf"
    pdf.write_bytes(document.content)
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "80",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            str(pdf),
            str(tmp_path / "page"),
        ],
        check=True,
        timeout=60,
    )
    target = output_dir / "profil-synthese-page1.png"
    shutil.copyfile(tmp_path / "page.png", target)
    assert target.stat().st_size > 10_000
