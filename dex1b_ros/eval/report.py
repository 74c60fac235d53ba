"""Reporting of ``dex1b eval``: the summary tables (text, markdown), the issue's aims (row 3 vs
row 1), the output files (results.csv / .md / .json / .png, per_object.csv) and the saved plans
(``save_plans``)."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np

from ..config_utils import to_dict
from .config import INPUTS, METHOD_TITLES, METHODS, EvalConfig
from .score import _mean


def _fmt(v, nd=2) -> str:
    if isinstance(v, str):
        return v
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf (0 valid)"
    if isinstance(v, int):
        return str(v)
    return f"{v:.{nd}f}"


COLUMNS = (("input", "input"), ("title", "method"), ("objects", "objects"), ("produced", "grasps"),
           ("evaluated", "simulated"), ("success", "success %"), ("lift", "lift %"),
           ("pen_mean_mm", "pen mean mm"), ("pen_max_mm", "pen max mm"), ("contacts", "contacts"),
           ("real_links", "real links"), ("pca", "PCA-k var"), ("entropy", "type H bits"),
           ("diversity_objects", "div objs"),
           ("cpu", "CPU s"), ("valid", "valid (est)"), ("cpu_per_valid", "CPU s / valid"))


def table_cells(rows: list[dict]) -> list[list[str]]:
    out = []
    for r in rows:
        cells = []
        for key, _ in COLUMNS:
            v = r[key]
            if key in ("success", "lift"):
                cells.append(_fmt(100 * v, 1) if not math.isnan(v) else "-")
            elif key in ("cpu", "valid"):
                cells.append(_fmt(float(v), 1))
            elif key == "pca":
                cells.append(_fmt(v, 3))
            else:
                cells.append(_fmt(v))
        out.append(cells)
    return out


def markdown_table(rows: list[dict], pca_k: int = 3) -> str:
    head = [h.replace("PCA-k", f"PCA-{pca_k}") for _, h in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c) + " |" for c in table_cells(rows)]
    return "\n".join(lines)


def text_table(rows: list[dict], pca_k: int = 3) -> str:
    head = [h.replace("PCA-k", f"PCA-{pca_k}") for _, h in COLUMNS]
    cells = table_cells(rows)
    w = [max(len(head[i]), *(len(c[i]) for c in cells)) if cells else len(head[i]) for i in range(len(head))]
    fmt = lambda cs: "  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(cs))
    return "\n".join([fmt(head), "  ".join("-" * x for x in w)] + [fmt(c) for c in cells])


def check_aims(rows: list[dict]) -> list[str]:
    """The issue's aims for row 3 against row 1, per input: one line each, with the numbers."""
    by = {(r["input"], r["method"]): r for r in rows}
    lines = []
    for kind in INPUTS:
        b, g = by.get((kind, "baseline")), by.get((kind, "gen+refine"))
        if b is None:
            continue
        if g is None:
            lines.append(f"{kind}: no generator rows (no model), aims not testable")
            continue
        ok1 = g["success"] >= 0.8 and g["pen_mean_mm"] < 1.0
        lines.append(f"{kind}: success >= 80% and mean penetration < 1 mm: "
                     f"{'MET' if ok1 else 'NOT MET'} ({100 * g['success']:.1f}%, {g['pen_mean_mm']:.2f} mm)")
        ok2 = g["pca"] <= b["pca"]
        ent = (f"; type entropy {g['entropy']:.2f} vs {b['entropy']:.2f} bits "
               f"({'>=' if g['entropy'] >= b['entropy'] else '<'} baseline)")
        lines.append(f"{kind}: at least as diverse as the baseline (PCA var lower or equal): "
                     f"{'MET' if ok2 else 'NOT MET'} ({g['pca']:.3f} vs {b['pca']:.3f}){ent}")
        ratio = b["cpu_per_valid"] / g["cpu_per_valid"] if g["cpu_per_valid"] > 0 else math.nan
        if math.isinf(b["cpu_per_valid"]) and math.isinf(g["cpu_per_valid"]):
            lines.append(f"{kind}: >= 20x fewer CPU-s per valid grasp: NOT TESTABLE (no valid grasp in either row)")
        else:
            ok3 = ratio >= 20
            lines.append(f"{kind}: >= 20x fewer CPU-s per valid grasp than the baseline: "
                         f"{'MET' if ok3 else 'NOT MET'} ({_fmt(b['cpu_per_valid'])} vs "
                         f"{_fmt(g['cpu_per_valid'])} s: {_fmt(ratio, 1)}x)")
    return lines


def write_outputs(cfg: EvalConfig, rows: list[dict], records: list[dict], notes: list[str], aims: list[str],
                  header: str) -> Path:
    out = cfg.out_dir
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()) if rows else ["input"])
        w.writeheader()
        w.writerows(rows)
    per_obj = ["object", "input", "method", "produced", "evaluated", "n_success", "n_lift", "rejected",
               "pen_mean_mm", "pen_max_mm", "pca", "entropy", "cpu", "rounds", "completed", "table", "energy_accepted"]
    with open(out / "per_object.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(per_obj)
        for r in records:
            w.writerow([r["object"], r["input"], r["method"], r["produced"], r["evaluated"], sum(r["success"]),
                        sum(r["lift"]), r["rejected"], _fmt(_mean(r["pen_mm"]), 3),
                        _fmt(max(r["pen_mm"]) if r["pen_mm"] else math.nan, 3), _fmt(r["pca"], 4),
                        _fmt(r["entropy"], 3), f"{r['cpu']:.3f}", r["rounds"], r["completed"], r.get("table", False),
                        r["energy_accepted"]])
    md = [header, "", markdown_table(rows, cfg.pca_k), ""]
    md += [f"- {n}" for n in notes]
    md += ["", "Aims (row 3 vs row 1):", ""] + [f"- {a}" for a in aims]
    (out / "results.md").write_text("\n".join(md) + "\n")
    (out / "results.json").write_text(json.dumps({"config": to_dict(cfg), "rows": rows, "notes": notes, "aims": aims},
                                                 indent=1, default=str))
    if cfg.plots and rows:
        plot_rows(rows, out / "results.png", cfg.pca_k)
    return out


def plot_rows(rows: list[dict], path: Path, pca_k: int = 3) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(dict.fromkeys(r["input"] for r in rows))
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    by = {(r["input"], r["method"]): r for r in rows}
    panels = (("success", "MuJoCo success (6 dir) %", 100, False), ("lift", "tabletop lift %", 100, False),
              ("pen_mean_mm", "mean penetration (mm)", 1, False), ("pca", f"PCA-{pca_k} cum. var (lower = diverse)", 1,
                                                                    False),
              ("entropy", "grasp-type entropy (bits)", 1, False), ("cpu_per_valid", "CPU s / valid grasp", 1, True))
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    x = np.arange(len(methods))
    wdt = 0.8 / max(len(kinds), 1)
    for ax, (key, title, scale, log) in zip(axes.flat, panels):
        for j, k in enumerate(kinds):
            vals = []
            for m in methods:
                v = by.get((k, m), {}).get(key, math.nan)
                vals.append(math.nan if v is None or math.isinf(v) else v * scale)
            ax.bar(x + (j - (len(kinds) - 1) / 2) * wdt, vals, wdt, label=k)
        ax.set_title(title, fontsize=10)
        ax.set_xticks(x, [str(METHODS.index(m) + 1) for m in methods])
        if log:
            ax.set_yscale("log")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("methods: " + ", ".join(METHOD_TITLES[m] for m in methods), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def save_eval_plan(cfg: EvalConfig, hand, object_id: str, kind: str, prepared, plane, rows: dict):
    """``save_plans``: what the node would have shown for this cloud as a saved plan
    (``<out>/plans/<object>-<input>.npz``, object frame): the prepared cloud, its completed shape,
    the table, and the top ``ranking.top_k`` of row 4 (passed the filter) by energy; when nothing
    passed, the top of row 3 (not simulated), without a generator row 1's."""
    from ..planner.types import PlannedGrasp, PlanResult, PlanScene
    from ..viz.plan_file import from_result, save_plan

    method = next((m for m in ("gen+refine+filter", "gen+refine", "baseline")
                   if m in rows and len(rows[m]["grasps"])), None)
    grasps = []
    if method is not None:
        gs = rows[method]["grasps"]
        e = gs.energy["total"]
        ok = method == "gen+refine+filter"
        grasps = [PlannedGrasp(
            wrist_pos=gs.trans[i].astype(float), wrist_quat=gs.quat[i].astype(float), pregrasp=gs.pregrasp[i],
            grasp=gs.grasp[i], squeeze=gs.squeeze[i], score=float(2.0 * ok + gs.accepted[i] + 1.0 / (1.0 + e[i])),
            energy=float(e[i]), validated=ok, sim_success=ok, source=method,
            grasp_type="+".join(n for n, a in zip(hand.tip_names, gs.active[i]) if a))
            for i in np.argsort(e)[:cfg.planner_config.ranking.top_k]]
    mesh = prepared.hull_mesh
    scene = PlanScene(prepared.points, np.asarray(mesh.vertices) if mesh is not None else np.zeros((0, 3)),
                      np.asarray(mesh.faces) if mesh is not None else np.zeros((0, 3), int), plane, prepared.partial)
    result = PlanResult(bool(grasps), f"dex1b eval: {object_id}, {kind} cloud, grasps of row {method}",
                        hand=hand.name, joint_names=list(hand.joint_names), grasps=grasps, scene=scene)
    stem = f"{object_id}-{kind}".replace("/", "_").replace(":", "_")
    return save_plan(from_result(result, frame_id="object", source="dex1b eval"), cfg.out_dir / "plans" / stem)
