"""The report folder of a build: summary JSON/CSV, plots and rendered grasps (no ROS).

``<out>/report/``:
    summary.json        rounds, types, generators, stage seconds (everything below in one file)
    rounds.csv          one row per round (stats.round_table)
    types.csv           round, type, valid before the cap, kept after it
    success_per_round.png, grasp_types.png (before/after per round), penetration.png
    grasps.png          up to ``report.render`` valid grasps (all rounds) of the object with the most
                        valid grasps (MuJoCo render of the hand at the grasp joints)
"""
from __future__ import annotations

import csv
import json

import numpy as np

from . import stats as S
from .store import Layout, atomic_write_bytes


def write_report(cfg, layout: Layout, summary) -> "Path":  # noqa: F821
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = layout.report
    out.mkdir(parents=True, exist_ok=True)
    rounds, types = summary.rounds, summary.types
    atomic_write_bytes(out / "summary.json", (json.dumps({
        "config_hash": cfg.content_hash(), "hand": cfg.hand, "rounds": rounds, "types": types,
        "generators": summary.train, "stage_seconds": summary.stage_seconds, "seconds": summary.seconds},
        indent=1, default=str) + "\n").encode())
    if rounds:
        with open(out / "rounds.csv", "w", newline="") as f:
            w = csv.DictWriter(f, list(rounds[0]))
            w.writeheader()
            w.writerows(rounds)
    with open(out / "types.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["round", "grasp_type", "valid_before_cap", "kept_after_cap"])
        for t in types:
            for ty in sorted(set(t["before"]) | set(t["after"])):
                w.writerow([t["round"], ty, t["before"].get(ty, 0), t["after"].get(ty, 0)])

    # success per round
    fig, ax = plt.subplots(figsize=(5, 3.2))
    rs = [r["round"] for r in rounds]
    ax.bar(rs, [100 * (r["success_rate"] or 0) for r in rounds], color="tab:blue", label="valid / validated")
    ax.plot(rs, [100 * (r["valid_per_proposed"] or 0) for r in rounds], "o-", color="tab:orange",
            label="valid / proposed")
    ax.set_xlabel("round")
    ax.set_ylabel("%")
    ax.set_xticks(rs)
    ax.set_title(f"{cfg.hand}: MuJoCo success per round")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "success_per_round.png", dpi=110)
    plt.close(fig)

    # type histogram before / after the cap, per round
    all_types = sorted({ty for t in types for ty in (*t["before"], *t["after"])})
    fig, axes = plt.subplots(len(types) or 1, 1, figsize=(max(6, 0.28 * len(all_types) + 2), 2.6 * max(len(types), 1)),
                             squeeze=False)
    x = np.arange(len(all_types))
    for ax, t in zip(axes[:, 0], types):
        ax.bar(x - 0.2, [t["before"].get(ty, 0) for ty in all_types], 0.4,
               label=f"valid ({t['entropy_before']:.2f} bits)")
        ax.bar(x + 0.2, [t["after"].get(ty, 0) for ty in all_types], 0.4, label=f"kept ({t['entropy_after']:.2f} bits)")
        ax.set_title(f"round {t['round']}: grasp types before / after rebalancing", fontsize=9)
        ax.set_xticks(x)
        ax.set_xticklabels(all_types, rotation=70, fontsize=6, ha="right")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "grasp_types.png", dpi=110)
    plt.close(fig)

    # penetration distribution
    pen = S.penetration(layout)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    if pen:
        p = np.array([x[2] for x in pen])
        ok = np.array([x[1] for x in pen])
        bins = np.linspace(0, max(float(np.nanmax(p)) if np.isfinite(p).any() else 1.0, 1e-3), 30)
        ax.hist(p[ok], bins, alpha=0.7, label=f"valid (n={ok.sum()})")
        if (~ok).any():
            ax.hist(p[~ok], bins, alpha=0.5, label=f"failed (n={(~ok).sum()})")
        ax.legend(fontsize=8)
    ax.set_xlabel("validator hand-object penetration (mm)")
    ax.set_ylabel("grasps")
    ax.set_title("penetration of stored grasps")
    fig.tight_layout()
    fig.savefig(out / "penetration.png", dpi=110)
    plt.close(fig)

    if cfg.report.render > 0:
        try:
            _render(cfg, layout, out / "grasps.png")
        except Exception as e:  # noqa: BLE001 - rendering needs an OpenGL backend; the report stands without it
            (out / "grasps.txt").write_text(f"rendering failed: {type(e).__name__}: {e}\n")
    return out


def _render(cfg, layout: Layout, path) -> None:
    from ..hands import load_hand
    from ..hands.render import save_png
    from ..objects import load_object
    from ..optim import GraspSet
    from ..optim.render import render_grasps
    from .schema import read_records

    paths = S.shard_paths(layout)
    if not paths:
        return
    rec = read_records(paths)
    rec = rec.select(rec.success)
    if not len(rec):
        return
    objs, counts = np.unique(rec.object_id.astype(str), return_counts=True)
    obj = str(objs[np.argmax(counts)])                    # the object with the most valid grasps (all rounds)
    rec = rec.select(rec.object_id == obj)
    idx = np.linspace(0, len(rec) - 1, min(cfg.report.render, len(rec))).round().astype(int)
    n = len(rec)
    gs = GraspSet(rec.hand, rec.trans, rec.quat, rec.pregrasp, rec.grasp, rec.squeeze, dict(rec.energy),
                  np.zeros(n), np.zeros(n), np.zeros((n, 1), bool), np.ones(n, bool))
    hand = load_hand(cfg.hand, hands_dir=cfg.hands_dir)
    img = render_grasps(hand, load_object(obj).mesh, gs, indices=idx.tolist(), cols=min(4, len(idx)))
    save_png(img, path)
