#!/usr/bin/env bash
# `buf breaking` for proto/ against the last landed main, chosen so that it means something both in a
# working copy and in a fresh CI clone:
#   * on a branch (HEAD has commits main lacks): the commit where it forked from main (merge-base),
#     so proto changes that landed on main since are not blamed on the branch;
#   * on main with uncommitted changes under proto/: HEAD, main as landed;
#   * on main with a clean proto/ (CI after landing): HEAD's first parent, the main before it.
# main is refs/heads/main, else refs/remotes/origin/main (what a CI clone often has). Set
# TESSERA_BREAKING_AGAINST to a git revision to choose the baseline yourself.
# Skips, saying why, when there is nothing to compare with: no git checkout, no main, no earlier
# commit (or a shallow clone without it), or a baseline without proto/. Needs buf, which
# scripts/install-tools.sh puts in .tools/. Exit: 0 compatible or skipped, non-zero when breaking.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$root/.tools/bin:$root/.tools/node_modules/.bin:$PATH"
cd "$root"

skip() {
  echo "buf breaking skipped: $*"
  exit 0
}

shallow_hint() {
  if [ "$(git rev-parse --is-shallow-repository 2>/dev/null)" = true ]; then
    echo " (this is a shallow clone: fetch more history, e.g. actions/checkout with fetch-depth: 0)"
  fi
}

if ! gitsays=$(git rev-parse --git-dir 2>&1 >/dev/null); then
  # A checkout git refuses to read (e.g. "dubious ownership" in a container) must not pass silently.
  if [ -e .git ]; then
    echo "buf breaking: git cannot read this checkout: $gitsays" >&2
    exit 1
  fi
  skip "not a git checkout"
fi

if [ -n "${TESSERA_BREAKING_AGAINST:-}" ]; then
  if ! base=$(git rev-parse -q --verify "${TESSERA_BREAKING_AGAINST}^{commit}"); then
    echo "buf breaking: TESSERA_BREAKING_AGAINST=$TESSERA_BREAKING_AGAINST is not a commit here" >&2
    exit 1
  fi
  why="TESSERA_BREAKING_AGAINST"
else
  head=$(git rev-parse -q --verify 'HEAD^{commit}') || skip "the repository has no commit yet"
  main=$(git rev-parse -q --verify 'refs/heads/main^{commit}' ||
    git rev-parse -q --verify 'refs/remotes/origin/main^{commit}') ||
    skip "no main branch in this clone (neither main nor origin/main); fetch it or set TESSERA_BREAKING_AGAINST"
  fork=$(git merge-base "$head" "$main" 2>/dev/null) ||
    skip "HEAD and main share no history in this clone$(shallow_hint)"
  if [ "$fork" != "$head" ]; then
    base=$fork
    why="where this branch forked from main"
  elif [ -n "$(git status --porcelain --untracked-files=all -- proto)" ]; then
    base=$head
    why="main as landed (HEAD; proto/ has uncommitted changes)"
  else
    base=$(git rev-parse -q --verify 'HEAD^1^{commit}') ||
      skip "main has no commit before HEAD$(shallow_hint), so there is no earlier proto/ to compare with"
    why="the main before HEAD"
  fi
fi

git cat-file -e "$base:proto" 2>/dev/null ||
  skip "$(git rev-parse --short "$base") ($why) has no proto/ yet, so nothing can break"

# Extract the baseline with git itself, which works in shallow and detached clones where buf's own
# .git#ref= input may not, together with its buf.yaml so both sides are laid out alike.
against=$(mktemp -d)
trap 'rm -rf "$against"' EXIT
paths=(proto)
for f in buf.yaml buf.lock; do
  if git cat-file -e "$base:$f" 2>/dev/null; then paths+=("$f"); fi
done
git archive "$base" -- "${paths[@]}" | tar -x -C "$against"
[ -f "$against/buf.yaml" ] || cp buf.yaml "$against/buf.yaml"

echo "buf breaking against $(git log -1 --format='%h %s' "$base") — $why"
buf breaking --against "$against"
echo "buf breaking: no breaking change"
