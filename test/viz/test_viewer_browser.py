"""``dex1b view`` in a real headless browser: Debian's chromium (scripts/setup_env.sh installs it)
driven by playwright (no browser download), WebGL in software (SwiftShader through ANGLE).

The viewer serves a saved plan made by the planner; the page is loaded, and the screenshot must
show the hands (pixels of the verdict colours: green = passed MuJoCo) that a screenshot with the
hands hidden does not have."""
import io
import os
import shutil
import time

import numpy as np
import pytest

from dex1b_ros.viz.plan_file import load_plan
from dex1b_ros.viz.viewer import PlanViewer

#: what makes WebGL work in headless chromium without a GPU (found on this machine: chromium 156)
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]
#: hides viser's "software WebGL" notice in the screenshot
HIDE_NOTICE = ".mantine-Notifications-root { display: none !important; }"


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        msg = "chromium is not installed (scripts/setup_env.sh installs it: apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(msg)      # CI ran the setup script: a missing browser is a failure there
        pytest.skip(msg)
    return path


def hand_pixels(png: bytes) -> int:
    """Pixels in the 'passed' green of the hands (shaded): green well above red and blue."""
    from PIL import Image
    a = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    return int(((g > r + 30) & (g > b + 30)).sum())


def settled(page, min_pixels: int | None, timeout: float = 120.0) -> bytes:
    """Screenshots until the picture stops changing (and, with ``min_pixels``, shows that many
    hand pixels); software WebGL on a busy machine takes a while to draw the first frames."""
    t_end, last = time.monotonic() + timeout, None
    while True:
        page.wait_for_timeout(1500)
        png = page.screenshot()
        n = hand_pixels(png)
        if last is not None and abs(n - last) <= max(20, 0.01 * n) and (min_pixels is None or n >= min_pixels):
            return png
        if time.monotonic() > t_end:
            return png
        last = n


@pytest.mark.slow
def test_browser_draws_the_hands(planned):
    exe = chromium()
    from playwright.sync_api import sync_playwright

    plan = load_plan(planned[2])
    for g in plan.grasps:      # the planner's verdicts vary; green ("passed") hands are unambiguous in the pixels
        g.validated = g.sim_success = True
    viewer = PlanViewer(port=0)
    try:
        viewer.show(plan)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1000, "height": 700})
                errors = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(viewer.url)
                page.add_style_tag(content=HIDE_NOTICE)
                shown = settled(page, min_pixels=2000)
                viewer.gui_show.value = "none"
                viewer._update_hands()
                hidden = settled(page, min_pixels=None)
            finally:
                browser.close()
    finally:
        viewer.close()
    n_shown, n_hidden = hand_pixels(shown), hand_pixels(hidden)
    assert not errors, errors
    assert n_shown >= 2000, f"the hands were not drawn: {n_shown} green pixels"
    assert n_hidden < 0.1 * n_shown, (n_shown, n_hidden)
