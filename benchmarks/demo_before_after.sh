#!/usr/bin/env bash
# The demo on an earlier commit and on this tree, renders cached, alternating, two rounds each, on
# this machine: `benchmarks/demo_before_after.sh [BASE_COMMIT]` (default feaa425, before APGD).
# Prints each run's wall time; each run's stage seconds are in its folder's results.json (timings)
# and report-timings.json (tabled by benchmarks/demo_timings.py). The earlier tree runs from a git
# worktree with this tree's venv.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
base=${1:-feaa425}
work=$(mktemp -d)
git -C "$root" worktree add -q "$work/before" "$base"
trap 'git -C "$root" worktree remove --force "$work/before"' EXIT
demo=(--preset fashion --classes sneaker,bag,ankle-boot --eps 0,0.05,0.1,0.2)
run() {  # tree, output folder
  (cd "$1" && PYTHONPATH="$1" "$root/.venv/bin/python" -m rnnviz.cli "${demo[@]}" --out "$2" >"$2.log" 2>&1)
}
for tree in "$work/before" "$root"; do run "$tree" "$work/warm-$(basename "$tree")"; done  # fill the render cache
for round in 1 2; do
  for tree in "$work/before" "$root"; do
    out="$work/$(basename "$tree")-$round"
    start=$(date +%s.%N)
    run "$tree" "$out"
    echo "$(basename "$tree") round $round: rc $? wall $(echo "$(date +%s.%N) - $start" | bc) s ($out)"
  done
done
