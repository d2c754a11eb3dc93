#!/usr/bin/env bash
# Run (or resume) the stored paper-scale sweeps, one grid after the other, into results/<grid>/.
#
# Stored results must come from a clean commit on main, and the working tree you edit is rarely
# clean: so this runs the package from a detached worktree of the given commit (default: HEAD of
# main), while the run folders go to this checkout's results/. Rerun the same command to resume:
# finished runs are skipped, unfinished ones continue from their checkpoints.
#
#   tools/paper_sweeps.sh [COMMIT]        # WORKERS=2 by default (one run per core)
#
# Commit finished and partial run folders as you go: git add results/<grid> && git commit ...
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
commit="${1:-$(git -C "$repo" rev-parse main)}"
wt="${SWEEP_WORKTREE:-$repo/../sweep-worktree}"
if [ ! -d "$wt" ]; then git -C "$repo" worktree add -f --detach "$wt" "$commit"; fi
git -C "$wt" checkout -q --detach "$commit"
export PYTHONPATH="$wt" OMP_NUM_THREADS=1
if [ -z "${QCL_DATA_DIR:-}" ] && [ -d "$repo/../shared/data" ]; then export QCL_DATA_DIR="$repo/../shared/data"; fi
py="$repo/.venv/bin/python"
cd "$wt"
for spec in "figure4" "figure2 --tasks 1000" "xxz-phases" "figure1" "fair-budget" "remedies"; do
  set -- $spec
  echo "=== $(date -u +%H:%M:%S) sweep $spec (commit ${commit:0:12})"
  "$py" -m qcl_helpers sweep "$@" --profile paper --out "$repo/results" --workers "${WORKERS:-2}"
done
