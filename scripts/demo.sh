#!/usr/bin/env bash
# The main job on the embedded default, end to end: render a small HM-World split, draw its dataset card, make submissions from the
# three reference predictors, score them, and build the leaderboard page.   usage: scripts/demo.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-hmworld_demo}"
hmworld=.venv/bin/hmworld
"$hmworld" render "out=$out/split" num_clips=4 seed=0 video.width=416 video.height=240
"$hmworld" stats "split=$out/split" reference=hmworld_examples "out=$out/card"   # the split's dataset card
for name in repeat-last mean-context nearest-view; do
    "$hmworld" predict-baseline "name=$name" "split=$out/split" "out=$out/submissions/$name"
    "$hmworld" score "submission=$out/submissions/$name" "split=$out/split" "results=$out/results.sqlite"
done
"$hmworld" leaderboard "results=$out/results.sqlite" "out=$out/leaderboard"
