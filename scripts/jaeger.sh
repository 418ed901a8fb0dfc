#!/usr/bin/env bash
# Builds the Jaeger v2 binary (github.com/jaegertracing/jaeger/cmd/jaeger,
# pinned with its dependencies in internal/tools/jaeger/go.mod and go.sum)
# once into a cache directory, and prints its path. The end-to-end test
# e2e/jaeger_test.go runs it; CI runs it ahead of the tests so that the
# several minutes of compilation are a step of their own.
#
# Usage: scripts/jaeger.sh            (from anywhere)
# Env:   GO                     go command (default: go)
#        MESHLENS_JAEGER_CACHE  cache directory
#                               (default: ${XDG_CACHE_HOME:-$HOME/.cache}/meshlens)
#
# The binary's directory is named after the Jaeger version and a hash of the
# tools module's go.mod and go.sum, so a change of pin rebuilds it.
set -euo pipefail

GO="${GO:-go}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mod="$root/internal/tools/jaeger"
pkg=github.com/jaegertracing/jaeger/cmd/jaeger

version="$(cd "$mod" && "$GO" list -m -f '{{.Version}}' github.com/jaegertracing/jaeger)"
key="$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-12)"
cache="${MESHLENS_JAEGER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshlens}"
bin="$cache/jaeger-$version-$key/jaeger"

if [[ ! -x "$bin" ]]; then
	mkdir -p "$(dirname "$bin")"
	tmp="$(mktemp "$bin.XXXXXX")"
	trap 'rm -f "$tmp"' EXIT
	echo "jaeger.sh: building Jaeger $version into $bin (several minutes, once)" >&2
	start=$SECONDS
	(cd "$mod" && "$GO" build -trimpath -o "$tmp" "$pkg")
	mv -f "$tmp" "$bin"
	echo "jaeger.sh: built in $((SECONDS - start))s" >&2
fi
echo "$bin"
