#!/usr/bin/env bash
# Fuzz smoke test: run every Fuzz* target of the root module for a short time,
# one target at a time (go test -fuzz accepts exactly one target per run).
#
# Usage: scripts/fuzz-smoke.sh            (from the repository root)
# Env:   GO        go command            (default: go)
#        FUZZTIME  time per fuzz target  (default: 10s)
#
# Targets are discovered with grep (`^func Fuzz` in *_test.go). Files that live
# in a nested module (a directory with its own go.mod, e.g. dashboards/ or
# internal/tools/), in testdata/ or vendor/ are skipped. Zero targets is fine.
set -euo pipefail

GO="${GO:-go}"
FUZZTIME="${FUZZTIME:-10s}"

root="$(pwd)"
if [[ ! -f "$root/go.mod" ]]; then
	echo "fuzz-smoke: run from the module root (no go.mod in $root)" >&2
	exit 2
fi

# Directories of nested modules, relative to the root, e.g. "dashboards".
mapfile -t nested < <(find . -mindepth 2 -name go.mod \
	-not -path './.git/*' -not -path '*/testdata/*' -not -path '*/vendor/*' \
	-printf '%h\n' | sed 's|^\./||' | sort)

in_nested_module() {
	local f="$1" m
	for m in "${nested[@]+"${nested[@]}"}"; do
		case "$f" in "$m"/*) return 0 ;; esac
	done
	return 1
}

# "pkgdir<TAB>FuzzName" lines.
targets=()
while IFS=: read -r file line; do
	file="${file#./}"
	in_nested_module "$file" && continue
	name="$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"$line")"
	[[ "$name" == Fuzz* ]] || continue
	targets+=("$(dirname "$file")"$'\t'"$name")
done < <(grep -r --include='*_test.go' \
	--exclude-dir=.git --exclude-dir=testdata --exclude-dir=vendor --exclude-dir=node_modules \
	'^func Fuzz' . | sort || true)

if [[ ${#targets[@]} -eq 0 ]]; then
	echo "fuzz-smoke: no Fuzz* targets found; nothing to do"
	exit 0
fi

echo "fuzz-smoke: ${#targets[@]} target(s), ${FUZZTIME} each"
failed=0
for t in "${targets[@]}"; do
	dir="${t%%$'\t'*}"
	name="${t#*$'\t'}"
	echo "=== fuzz ${name} in ./${dir} (${FUZZTIME})"
	start=$SECONDS
	out="$(mktemp)"
	if ! "$GO" test -run='^$' -fuzz="^${name}\$" -fuzztime="$FUZZTIME" -fuzzminimizetime=2s "./${dir}" 2>&1 | tee "$out"; then
		# Go's fuzzing engine reports "context deadline exceeded" when the
		# time runs out while it is still replaying the cached corpus (a busy
		# machine); that is no finding: no input failed and none was written.
		if grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out"; then
			echo "    (${name}: the time ran out while replaying the corpus; no input failed)"
		else
			echo "--- FAIL fuzz ${name} in ./${dir}" >&2
			failed=$((failed + 1))
		fi
	fi
	rm -f "$out"
	echo "    (${name}: $((SECONDS - start))s)"
done

if [[ $failed -gt 0 ]]; then
	echo "fuzz-smoke: ${failed} of ${#targets[@]} target(s) failed" >&2
	exit 1
fi
echo "fuzz-smoke: all ${#targets[@]} target(s) passed"
