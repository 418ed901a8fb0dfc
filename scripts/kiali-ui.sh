#!/usr/bin/env bash
# Fetches Kiali's web UI as published on npm (@kiali/kiali-ui, with its
# built UI in package/build), pinned by version and SHA-256, once into a
# cache directory, and prints the path of the build. The end-to-end test
# e2e/kiali_test.go serves it with `meshlens --kiali-ui`; CI runs this ahead
# of the tests. Needs npm (`npm pack` only: nothing is installed or run).
#
# Usage: scripts/kiali-ui.sh          (from anywhere)
# Env:   MESHLENS_KIALI_UI_CACHE      cache directory
#                                     (default: ${XDG_CACHE_HOME:-$HOME/.cache}/meshlens)
set -euo pipefail

version=1.35.0-snapshot.0
sha256=66229b6bc03faeccc78d92762c951e8a286e67a54657a02b31fefbb6d3db1d4b
cache="${MESHLENS_KIALI_UI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/meshlens}"
dir="$cache/kiali-ui-$version"
build="$dir/package/build"

if [[ ! -f "$build/index.html" ]]; then
	command -v npm >/dev/null || { echo "kiali-ui.sh: npm is not installed" >&2; exit 1; }
	tmp="$(mktemp -d "$cache/kiali-ui.XXXXXX" 2>/dev/null || { mkdir -p "$cache" && mktemp -d "$cache/kiali-ui.XXXXXX"; })"
	trap 'rm -rf "$tmp"' EXIT
	echo "kiali-ui.sh: fetching @kiali/kiali-ui@$version into $dir (once)" >&2
	(cd "$tmp" && npm pack --silent "@kiali/kiali-ui@$version" >/dev/null)
	tgz="$tmp/kiali-kiali-ui-$version.tgz"
	echo "$sha256  $tgz" | sha256sum -c --quiet - >&2
	mkdir -p "$tmp/x"
	tar -xzf "$tgz" -C "$tmp/x"
	[[ -f "$tmp/x/package/build/index.html" ]] || { echo "kiali-ui.sh: no package/build/index.html in the package" >&2; exit 1; }
	rm -rf "$dir"
	mv "$tmp/x" "$dir"
fi
echo "$build"
