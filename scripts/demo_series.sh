#!/usr/bin/env bash
# Ten views of one object with `dex1b demo` (closed loop, node defaults), one run after another:
# yaw 36 i deg, camera seed i, i = 0..9. Writes out/logs/demo_<hand>_<tag>_<i>.log and a summary
# (one line per run: the executive's result and sim_hand's ground truth per attempt).
#   bash scripts/demo_series.sh leap ycb:021_bleach_cleanser bleach_s14
# (object '' = the demo's default, the mustard bottle). Count: grep -c "closed loop: HELD" SUMMARY.
set -u
hand=${1:?hand}; object=${2-}; tag=${3:?tag}
cd "$(dirname "$0")/.." || exit 1
mkdir -p out/logs
sum=out/logs/demo_${hand}_${tag}.summary
: > "$sum"
for i in 0 1 2 3 4 5 6 7 8 9; do
  log=out/logs/demo_${hand}_${tag}_${i}.log
  .venv/bin/dex1b demo --hand "$hand" ${object:+--object "$object"} --yaw $((36 * i)) --seed "$i" \
    --out "out/demo_${hand}_${tag}_${i}.png" > "$log" 2>&1
  echo "run $i: $(grep -m1 'closed loop:' "$log")" >> "$sum"
done
echo "$sum: held at the end $(grep -c 'closed loop: HELD' "$sum") / 10; first execution held" \
  "$(grep -c "verdicts: \['held'" "$sum") / 10"
