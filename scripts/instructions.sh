#!/usr/bin/env bash
# Instructions per entry of the ingest hot path, counted by valgrind's
# callgrind: unlike time, the count does not depend on what else the machine
# is doing, so two versions of the code can be compared to a fraction of a
# percent on a noisy machine (run this script in each, e.g. one of them in a
# `git worktree`). Instructions are not time (cache misses and branch
# mispredictions cost cycles without instructions): confirm a change that
# matters with the time benchmarks too.
#
# Usage: scripts/instructions.sh            (from the repository root)
# Env:   GO     go command                       (default: go)
#        OPS    benchmark iterations (messages)  (default: 2000)
#
# Each benchmark below reports "entries/op" and measures inside
# benchutil.CPUPerItem; only the instructions executed inside it (the timed
# loop, no setup) are counted. The process runs with GOMAXPROCS=1, GC off and
# without asynchronous preemption (whose signals callgrind cannot follow).
set -euo pipefail

GO="${GO:-go}"
OPS="${OPS:-2000}"

if ! command -v valgrind >/dev/null; then
	echo "instructions: valgrind is not installed (Debian: apt-get install valgrind)" >&2
	exit 2
fi
if [[ ! -f go.mod ]]; then
	echo "instructions: run from the module root" >&2
	exit 2
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# package|benchmark
benches=(
	"./accesslog/internal/wire|BenchmarkDecodeSynthetic"
	"./collector/hubextension|BenchmarkPipelineSynthetic"
)

printf '%-28s %14s %12s %14s\n' benchmark instructions entries instr/entry
for b in "${benches[@]}"; do
	pkg="${b%%|*}"
	name="${b##*|}"
	bin="$tmp/$(basename "$pkg").test"
	"$GO" test -c -o "$bin" "$pkg"
	# The benchmark's output and valgrind's go to separate files, so that a
	# valgrind message cannot split the benchmark's result line.
	if ! (cd "$pkg" && GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 GOGC=off \
		valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" --log-file="$tmp/valgrind.log" \
		--toggle-collect='github.com/meshlens/meshlens/internal/benchutil.CPUPerItem' \
		"$bin" -test.run='^$' -test.bench="^${name}\$" -test.benchtime="${OPS}x" >"$tmp/bench.out" 2>&1); then
		echo "instructions: $name failed:" >&2
		tail -20 "$tmp/bench.out" "$tmp/valgrind.log" >&2
		exit 1
	fi
	ir="$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$tmp/valgrind.log")"
	per="$(awk '/^Benchmark/ {for (i = 2; i <= NF; i++) if ($i == "entries/op") print $(i-1)}' "$tmp/bench.out")"
	if [[ -z "$ir" || -z "$per" || "$ir" -lt 1000000 ]]; then
		echo "instructions: no count for $name:" >&2
		tail -20 "$tmp/bench.out" "$tmp/valgrind.log" >&2
		exit 1
	fi
	awk -v n="$name" -v ir="$ir" -v per="$per" -v ops="$OPS" \
		'BEGIN { e = per * ops; printf "%-28s %14d %12d %14.0f\n", n, ir, e, ir / e }'
done
