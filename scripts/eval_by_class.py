"""Split a `dex1b eval` per_object.csv by object class: strongly non-convex (volume / convex hull
volume < 0.7) vs nearly convex. Pooled over the simulated grasps of each (input, method, class).

    .venv/bin/python scripts/eval_by_class.py out/eval/leap/per_object.csv
"""
import argparse
import collections
import csv

from dex1b_ros.geometry.decompose import hull_ratio
from dex1b_ros.objects.splits import load_object

THRESHOLD = 0.7


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("per_object_csv")
    ap.add_argument("--threshold", type=float, default=THRESHOLD, help="volume / hull volume below = non-convex")
    a = ap.parse_args(argv)
    rows = list(csv.DictReader(open(a.per_object_csv)))
    ratio = {o: hull_ratio(load_object(o).mesh) for o in sorted({r["object"] for r in rows})}
    agg = collections.defaultdict(lambda: [set(), 0, 0, 0])
    for r in rows:
        cls = f"vol/hull < {a.threshold}" if ratio[r["object"]] < a.threshold else f"vol/hull >= {a.threshold}"
        g = agg[(r["input"], r["method"], cls)]
        g[0].add(r["object"])
        g[1] += int(r["evaluated"])
        g[2] += int(r["n_success"])
        g[3] += int(r["n_lift"])
    print("input | method | class | objects | simulated | success % | lift %")
    print("---|---|---|---|---|---|---")
    for (inp, m, cls), (objs, n, s, lift) in sorted(agg.items()):
        print(f"{inp} | {m} | {cls} | {len(objs)} | {n} | {100 * s / max(n, 1):.1f} | {100 * lift / max(n, 1):.1f}")


if __name__ == "__main__":
    main()
