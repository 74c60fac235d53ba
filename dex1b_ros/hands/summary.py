"""``dex1b hands``: load each hand, print its summary, optionally render a picture (no ROS).

Examples::

    dex1b hands                                  # every hand in config/hands/
    dex1b hands --hand leap --render out/leap.png
    dex1b hands --json                           # one JSON object per hand
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def build_parser(prog: str = "dex1b hands") -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hand", action="append", help="hand name or YAML path (repeatable; default: all configured)")
    ap.add_argument("--hands-dir", type=Path, default=None, help="directory holding hand model folders")
    ap.add_argument("--render", type=Path, default=None, help="write a PNG of the hands here")
    ap.add_argument("--json", action="store_true", help="print one JSON object per hand")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    return ap


def main(argv=None) -> int:
    import numpy as np
    import torch

    from . import available_hands, load_hand
    from .render import hand_sheet, save_png

    a = build_parser().parse_args(argv)
    torch.set_num_threads(a.threads)
    names = a.hand or available_hands()
    sheets = []
    for name in names:
        hand = load_hand(name, hands_dir=a.hands_dir)
        info = hand.summary()
        if a.json:
            print(json.dumps(info))
        else:
            print(f"== {name}: {info['joints']} joints, {info['links']} links  ({info['mjcf']})")
            print(f"   collision spheres: {info['spheres']} (min per-link surface coverage "
                  f"{info['min_sphere_coverage']:.2f}); self-collision: {info['self_collision_spheres']} spheres, "
                  f"{info['self_collision_pairs']} pairs")
            print(f"   contact candidates: {info['contact_candidates']} on {', '.join(hand.cfg.contacts.links)}")
            print(f"   palm centre {info['palm_center_m']} m, approach {info['approach']} (palm frame)")
            lim = "  ".join(f"{k}[{lo:+.2f},{hi:+.2f}]" for k, (lo, hi) in info["joint_limits_rad"].items())
            print(f"   joint limits (rad): {lim}")
        if a.render:
            sheets.append(hand_sheet(hand))
    if a.render:
        w = max(s.shape[1] for s in sheets)
        sheets = [np.pad(s, ((0, 0), (0, w - s.shape[1]), (0, 0))) for s in sheets]
        out = save_png(np.concatenate(sheets, 0), a.render)
        print(f"wrote {out} (rows: {', '.join(names)}; green: collision spheres, red: contact candidates, "
              f"blue: palm centre + approach)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
