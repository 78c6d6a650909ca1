#!/usr/bin/env bash
# Benchmark, not a test: the prepare stage (a depth-1 fetch of the pinned commit, plus Istio's
# two packaging files) against a full `git clone` of the same large repository.
# Target: prepare takes at most 0.2x the clone's time.
#
# Usage: scripts/bench-prepare.sh [--repo GIT_DIR] [--commits N] [--files N] [--runs N]
#   --repo DIR    benchmark against this repository's HEAD instead of a generated one
#   --commits N   history of the generated repository (default 8000)
#   --files N     files in its tree (default 1000)
#   --runs N      best of N runs for each side (default 3)
# Environment: BENCH_DIR (default target/bench-prepare), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

repo="" commits=8000 files=1000 runs=3
while [ $# -gt 0 ]; do
  case "$1" in
    --repo) repo=$2; shift 2 ;;
    --commits) commits=$2; shift 2 ;;
    --files) files=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "bench-prepare: unknown argument $1" >&2; exit 2 ;;
  esac
done

bench=${BENCH_DIR:-target/bench-prepare}
mkdir -p "$bench"
bench=$(cd "$bench" && pwd)
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_DATE=2020-12-01T00:00:00Z GIT_COMMITTER_DATE=2020-12-01T00:00:00Z
gitf() { git -c user.name=Bench -c user.email=bench@example.invalid -c init.defaultBranch=main "$@"; }

cargo build --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/debug/proxy-rpm

# A large repository made of random text: `files` files, then `commits` commits that each
# rewrite 8 of them, so that its history outweighs its tree as a real project's does.
generate() {
  local dir=$1
  rm -rf "$dir"
  gitf init -q --bare "$dir"
  awk -v files="$files" -v commits="$commits" '
    function blob(   s, i) {
      s = ""
      for (i = 0; i < 32; i++) s = s pool[int(rand() * 65536)] "\n"
      return s
    }
    function file(f) { return sprintf("src/d%03d/f%05d.txt", f % 100, f) }
    function header(n) {
      print "commit refs/heads/main"
      print "committer Bench <bench@example.invalid> " (1600000000 + n) " +0000"
      print "data <<EOM"; print "commit " n; print "EOM"
    }
    BEGIN {
      srand(42)
      chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
      for (p = 0; p < 65536; p++) {
        line = ""
        for (i = 0; i < 64; i++) line = line substr(chars, int(rand() * 64) + 1, 1)
        pool[p] = line
      }
      header(0)
      for (f = 0; f < files; f++) printf "M 100644 inline %s\ndata <<EOM\n%sEOM\n", file(f), blob()
      for (c = 1; c < commits; c++) {
        header(c)
        for (k = 0; k < 8; k++) printf "M 100644 inline %s\ndata <<EOM\n%sEOM\n", file(int(rand() * files)), blob()
      }
    }' | git -C "$dir" fast-import --quiet
  git -C "$dir" config uploadpack.allowReachableSHA1InWant true
  git -C "$dir" repack -adq
}

if [ -z "$repo" ]; then
  repo=$bench/large-$files-$commits.git
  if ! git -C "$repo" rev-parse --verify -q HEAD >/dev/null 2>&1; then
    echo "generating $repo ($files files, $commits commits)..." >&2
    generate "$repo"
  fi
fi
repo=$(cd "$repo" && pwd)
sha=$(git -C "$repo" rev-parse HEAD)

# Istio's side of the stage: a small repository with tag 1.6.14 and the two packaging files.
istio=$bench/istio
if ! git -C "$istio" rev-parse --verify -q 1.6.14 >/dev/null 2>&1; then
  rm -rf "$istio"
  gitf init -q "$istio"
  mkdir -p "$istio/tools/packaging/common"
  echo "# bench sidecar.env" >"$istio/tools/packaging/common/sidecar.env"
  echo '{"bench": true}' >"$istio/tools/packaging/common/envoy_bootstrap_v2.json"
  echo '[]' >"$istio/istio.deps"
  gitf -C "$istio" add -A
  gitf -C "$istio" commit -qm bench
  gitf -C "$istio" tag 1.6.14
fi

now() { date +%s.%N; }
best_prepare="" best_clone=""
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
# Fresh directories for every run, deleted only at the end: on this ext4 (mounted with
# `discard`), deleting a tree slows the writes that follow it for seconds.
runs_dir=$bench/runs
rm -rf "$runs_dir"
mkdir -p "$runs_dir"
trap 'rm -rf "$runs_dir"' EXIT
for run in $(seq "$runs"); do
  work=$runs_dir/work-$run clone=$runs_dir/clone-$run
  # Each side starts with no writeback pending (the disk is shared with other work).
  sync
  t0=$(now)
  "$bin" -q prepare 1.6.14 --workdir "$work" --proxy-sha "$sha" \
    --proxy-repo "file://$repo" --istio-repo "file://$istio" >/dev/null 2>"$runs_dir/prepare.err" \
    || { cat "$runs_dir/prepare.err" >&2; exit 1; }
  t1=$(now)
  sync
  t2=$(now)
  # file:// makes git use its transport (packing objects) rather than hard links.
  git clone -q "file://$repo" "$clone"
  t3=$(now)
  p=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  c=$(awk -v a="$t2" -v b="$t3" 'BEGIN { printf "%.3f", b - a }')
  echo "run $run: prepare ${p}s, full clone ${c}s" >&2
  best_prepare=$(min "$best_prepare" "$p")
  best_clone=$(min "$best_clone" "$c")
done

size=$(du -sh "$repo" | cut -f1)
count=$(git -C "$repo" rev-list --count HEAD)
shallow=$(git -C "$runs_dir/work-1/src/istio-proxy" rev-list --count HEAD)
echo "repository: $repo ($size, $count commits; prepared tree has $shallow commit)"
echo "prepare (depth-1 fetch of $sha + packaging files): ${best_prepare}s (best of $runs)"
echo "git clone (full history):                        ${best_clone}s (best of $runs)"
awk -v p="$best_prepare" -v c="$best_clone" 'BEGIN {
  r = p / c
  printf "ratio: %.3f (target <= 0.2: %s)\n", r, (r <= 0.2 ? "met" : "missed")
}'
