"""``dex1b``: the project's command line. One entry point, one subcommand per job.

Examples::

    dex1b demo                            # camera -> planner -> sim hand, real ROS 2 processes
    dex1b hands                           # summary of every configured hand
    dex1b seed --hand allegro             # seed grasps: synthesis + MuJoCo validation -> Parquet
    dex1b train --hand allegro --data out/seed/allegro --steps 5000   # -> models/allegro/
    dex1b hands --hand leap --render out/leap.png
    dex1b eval --config config/eval/results.yaml --hand leap   # docs/RESULTS.md
    dex1b bench fk --batch 1000 --threads 1
    dex1b bench sdf                       # SDF grid accuracy and speed on YCB objects
    dex1b bench optim --render out/grasps.png   # refinement/synthesis speed and quality
    dex1b bench validate                  # MuJoCo validator tests/s and agreement
    dex1b bench latency                   # ROS 2 planner: cloud -> validated trajectory, p50/p95
    dex1b bench plan-quality              # the planner's first grasp from one view, held by the TRUE object?

Hand model files are looked up in --hands-dir, $DEX1B_HANDS_DIR, then
../shared/assets/hands next to the repository.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _cmd_hands(a) -> int:
    import numpy as np
    import torch

    from .hands import available_hands, load_hand
    from .hands.render import hand_sheet, save_png

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


def _cmd_bench(a) -> int:
    import importlib
    return importlib.import_module(BENCHES[a.what]).main(a.rest) or 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="dex1b", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    h = sub.add_parser("hands", help="summarise the hand models and render them",
                       description="Load each hand (LEAP, Allegro, or any YAML in config/hands), print its joints, "
                                   "limits, collision spheres, contact candidates and palm frame, and optionally "
                                   "render a picture.")
    h.add_argument("--hand", action="append", help="hand name or YAML path (repeatable; default: all configured)")
    h.add_argument("--hands-dir", type=Path, default=None, help="directory holding hand model folders")
    h.add_argument("--render", type=Path, default=None, help="write a PNG of the hands here")
    h.add_argument("--json", action="store_true", help="print one JSON object per hand")
    h.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    h.set_defaults(func=_cmd_hands)

    d = sub.add_parser("demo", help="end-to-end demo: sim camera -> grasp_planner -> sim hand over ROS 2",
                       description="Runs sim_camera, grasp_planner and sim_hand as real ROS 2 processes over "
                                   "loopback and prints the chosen grasp and whether the hand held the object. "
                                   "`dex1b demo --help` lists options.", add_help=False)
    d.add_argument("rest", nargs=argparse.REMAINDER)
    d.set_defaults(func=lambda a: __import__("dex1b_ros.ros.demo", fromlist=["main"]).main(a.rest) or 0)

    for name, mod, helptext in (
            ("seed", "dex1b_ros.generator.seed", "make a seed grasp dataset for a hand (optimizer + MuJoCo)"),
            ("train", "dex1b_ros.generator.train", "train the DexSimple generator from Parquet grasp shards"),
            ("dataset", "dex1b_ros.dataset.build", "build/grow a grasp dataset in rounds (`dex1b dataset build ...`)"),
            ("eval", "dex1b_ros.eval.run", "compare baseline / generator / +refinement / +validator on objects")):
        sp = sub.add_parser(name, help=helptext, add_help=False,
                            description=f"{helptext}. `dex1b {name} --help` lists options.")
        sp.add_argument("rest", nargs=argparse.REMAINDER)
        sp.set_defaults(func=lambda a, mod=mod: __import__(mod, fromlist=["main"]).main(a.rest) or 0)

    b = sub.add_parser("bench", help="benchmarks (fk, sdf, optim, validate, latency, plan-quality); "
                       "`dex1b bench NAME --help` for options",
                       description="Benchmarks print figures for docs/. `dex1b bench fk --help` lists options.")
    b.add_argument("what", choices=list(BENCHES), help="which benchmark")
    b.add_argument("rest", nargs=argparse.REMAINDER, help="options of that benchmark")
    b.set_defaults(func=_cmd_bench)
    return ap


#: subcommands whose own argparse parser takes every argument after the name
PASSTHROUGH = {"demo": "dex1b_ros.ros.demo", "seed": "dex1b_ros.generator.seed", "train": "dex1b_ros.generator.train",
               "dataset": "dex1b_ros.dataset.build", "eval": "dex1b_ros.eval.run"}
BENCHES = {"fk": "dex1b_ros.hands.bench", "sdf": "dex1b_ros.geometry.bench_sdf", "optim": "dex1b_ros.optim.bench",
           "validate": "dex1b_ros.validate.bench", "latency": "dex1b_ros.ros.bench_latency",
           "plan-quality": "dex1b_ros.planner.bench_quality"}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `dex1b demo --help`, `dex1b bench fk --batch 10`: hand the rest to the subcommand's parser
    if argv and argv[0] in PASSTHROUGH:
        import importlib
        rest = argv[1:]
        if argv[0] == "dataset":  # `dex1b dataset build ...` (the only verb so far)
            if not rest or rest[0] != "build":
                print("usage: dex1b dataset build --config config/dataset/<name>.yaml [...]"
                      "  (`dex1b dataset build --help` for options)", file=sys.stderr)
                return 2
            rest = rest[1:]
        return importlib.import_module(PASSTHROUGH[argv[0]]).main(rest) or 0
    if len(argv) >= 2 and argv[0] == "bench" and argv[1] in BENCHES:
        import importlib
        return importlib.import_module(BENCHES[argv[1]]).main(argv[2:]) or 0
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as e:  # ConfigError is a ValueError
        print(f"dex1b {args.cmd}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
