"""``dex1b``: the project's command line. One entry point, one subcommand per job.

Examples::

    dex1b demo                            # camera -> planner -> sim hand, real ROS 2 processes
    dex1b hands                           # summary of every configured hand
    dex1b seed --hand allegro             # seed grasps: synthesis + MuJoCo validation -> Parquet
    dex1b train --hand allegro --data out/seed/allegro --steps 5000   # -> models/allegro/
    dex1b collect-plans --hand leap --views 4 --top-k 12 --out data/leap_plans
    dex1b collect-plans --hand leap --relabel data/leap_plans --out data/leap_plans_table   # today's pregrasp
    dex1b train-evaluator --hand leap --plans data/leap_plans_table --out models/leap/evaluator --steps 1500
    dex1b hands --hand leap --render out/leap.png
    dex1b dataset build --config config/dataset/tiny.yaml
    dex1b eval --config config/eval/results.yaml --hand leap   # docs/RESULTS.md
    dex1b bench fk --batch 1000 --threads 1
    dex1b bench latency                   # ROS 2 planner: cloud -> validated trajectory, p50/p95

Every subcommand is listed once, in :data:`COMMANDS` (name, module, one-line help); its module
has ``main(argv)`` and its own ``--help``. Hand model files are looked up in --hands-dir,
$DEX1B_HANDS_DIR, then ../shared/assets/hands next to the repository.
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str    # one word, or a group and a word ("bench fk")
    module: str  # has main(argv) -> int
    help: str    # one line


COMMANDS: tuple[Command, ...] = (
    Command("demo", "dex1b_ros.ros.demo", "end-to-end demo: sim camera -> grasp_planner -> sim hand over ROS 2"),
    Command("hands", "dex1b_ros.hands.summary",
            "summarise the hand models (joints, spheres, contacts) and render them"),
    Command("seed", "dex1b_ros.generator.seed", "make a seed grasp dataset for a hand (optimizer + MuJoCo)"),
    Command("train", "dex1b_ros.generator.train", "train the DexSimple generator from Parquet grasp shards"),
    Command("train-evaluator", "dex1b_ros.evaluator.train",
            "train the learned grasp evaluator (single view -> P(grasp holds)) from grasp shards"),
    Command("collect-plans", "dex1b_ros.evaluator.collect",
            "the planner's own candidates on single views of training objects, labelled on the true object"),
    Command("dataset build", "dex1b_ros.dataset.build", "build/grow a grasp dataset in rounds"),
    Command("dataset card", "dex1b_ros.dataset.card", "write the dataset card (CARD.md) of a build"),
    Command("dataset bench", "dex1b_ros.dataset.bench", "dataset builder throughput per stage"),
    Command("plan", "dex1b_ros.ros.plan_bag", "plan on the PointCloud2s of a ROS 2 bag -> grasps bag, CSV, JSON"),
    Command("eval", "dex1b_ros.eval.run", "compare baseline / generator / +refinement / +validator on objects"),
    Command("view", "dex1b_ros.viz.view", "look at a saved plan (or the running node's plans) in 3D in the browser"),
    Command("bench fk", "dex1b_ros.hands.bench", "batched forward kinematics speed"),
    Command("bench sdf", "dex1b_ros.geometry.bench_sdf", "SDF grid accuracy and speed on YCB objects"),
    Command("bench optim", "dex1b_ros.optim.bench", "refinement/synthesis speed and quality"),
    Command("bench validate", "dex1b_ros.validate.bench", "MuJoCo validator tests/s and agreement"),
    Command("bench latency", "dex1b_ros.ros.bench_latency", "ROS 2 planner: cloud -> validated trajectory, p50/p95"),
    Command("bench bag", "dex1b_ros.ros.bench_bag", "dex1b plan --bag throughput: clouds/s on a bag of sim clouds"),
    Command("bench memory", "dex1b_ros.planner.bench_memory", "planner RSS over many plans and huge clouds"),
    Command("bench completion", "dex1b_ros.planner.bench_completion",
            "shape from one view: the planner's completed object vs the true mesh (Chamfer, IoU)"),
    Command("bench plan-quality", "dex1b_ros.planner.bench_quality",
            "the planner's first grasp from one view: held by the true object?"),
)

# views of the table (kept for callers of the old names)
BENCHES = {c.name.split()[1]: c.module for c in COMMANDS if c.name.startswith("bench ")}
PASSTHROUGH = {c.name.split()[0]: c.module for c in COMMANDS
               if " " not in c.name or c.name == "dataset build"}


def usage(group: str = "") -> str:
    """Usage text: the commands of ``group`` ("" = all), one line each."""
    cmds = [c for c in COMMANDS if not group or c.name.split()[0] == group]
    width = max(len(c.name) for c in cmds) + 2
    head = f"usage: dex1b {group + ' ' if group else ''}COMMAND [options]   (`dex1b {group + ' ' if group else ''}" \
           f"COMMAND --help` lists a command's options)\n"
    doc = "" if group else "\n" + (__doc__ or "").split("\n\nEvery subcommand")[0] + "\n"
    lines = [f"  {c.name:<{width}}{c.help}" for c in cmds]
    return head + doc + "\ncommands:\n" + "\n".join(lines) + "\n"


def find(argv: list[str]) -> tuple[Command | None, list[str]]:
    """The command named by the first words of ``argv`` (longest match) and the rest."""
    best = None
    for c in COMMANDS:
        words = c.name.split()
        if argv[:len(words)] == words and (best is None or len(words) > len(best.name.split())):
            best = c
    return best, (argv[len(best.name.split()):] if best else argv)


def main(argv=None) -> int:
    from .config_utils import ConfigError

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), end="", file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    cmd, rest = find(argv)
    if cmd is None:
        groups = {c.name.split()[0] for c in COMMANDS if " " in c.name}
        group = argv[0] if argv[0] in groups else ""
        if group and (len(argv) == 1 or argv[1] in ("-h", "--help")):
            print(usage(group), end="", file=sys.stdout if len(argv) > 1 else sys.stderr)
            return 0 if len(argv) > 1 else 2
        bad = argv[1] if group else argv[0]
        choices = sorted({c.name.split()[1] if group else c.name.split()[0] for c in COMMANDS
                          if not group or c.name.startswith(group + " ")})
        print(usage(group) + f"dex1b{' ' + group if group else ''}: error: invalid choice: {bad!r} "
              f"(choose from {', '.join(choices)})", file=sys.stderr)
        return 2
    try:
        return importlib.import_module(cmd.module).main(rest) or 0
    except (ConfigError, FileNotFoundError) as e:  # a bad config value or a missing file: no traceback
        print(f"dex1b {cmd.name}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
