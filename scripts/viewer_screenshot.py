"""The README's viewer screenshot: plan on one simulated camera view of the YCB mustard bottle on
a table with the node's settings, save the plan, open it in `dex1b view` and screenshot it with
headless chromium (Debian's, driven by playwright; as in test/viz/test_viewer_browser.py).

    .venv/bin/python scripts/viewer_screenshot.py --out docs/img/viewer.png
"""
import argparse
import shutil
import tempfile
from pathlib import Path

ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--object", default="ycb:006_mustard_bottle")
    ap.add_argument("--hand", default="leap")
    ap.add_argument("--seed", type=int, default=3, help="camera view seed")
    ap.add_argument("--out", default="docs/img/viewer.png")
    a = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from dex1b_ros.eval.run import EvalConfig, make_cloud, table_plane
    from dex1b_ros.objects import load_object
    from dex1b_ros.planner.config import load_planner_config, planner_config
    from dex1b_ros.planner.pipeline import GraspPipeline
    from dex1b_ros.viz.plan_file import load_plan, save_result
    from dex1b_ros.viz.viewer import PlanViewer

    mesh = load_object(a.object).mesh
    p, n = make_cloud(mesh, "partial", EvalConfig(hand=a.hand), seed=a.seed)
    pipe = GraspPipeline(config=planner_config({"hand": a.hand}, load_planner_config()))
    r = pipe.plan(p, n, support_plane=table_plane(mesh), keep_scene=True)
    print(r.message)
    with tempfile.TemporaryDirectory() as tmp:
        plan = load_plan(save_result(r, tmp, frame_id="world"))
    viewer = PlanViewer(port=0)
    try:
        viewer.show(plan)
        viewer.gui_show.value = "chosen"     # the grasp the node would execute, the others hidden
        viewer._update_hands()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
            page = browser.new_page(viewport={"width": 1100, "height": 650})
            page.goto(viewer.url)
            page.add_style_tag(content=".mantine-Notifications-root { display: none !important; }")
            page.wait_for_timeout(15000)      # software WebGL draws the first frames slowly
            Path(a.out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=a.out)
            browser.close()
    finally:
        viewer.close()
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
