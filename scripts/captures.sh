#!/usr/bin/env bash
# Prints one line saying where the tests look for the real Envoy captures and
# whether they are there; the same rules as the Go helper internal/captures:
#   MESHLENS_CAPTURES          the captures directory (relative: to the
#                              repository root); default ../shared/testdata/envoy
#                              beside the repository
#   MESHLENS_REQUIRE_CAPTURES  1: missing captures fail the tests (CI sets it)
# Exits 1 when the captures are missing and the tests would fail for it
# (MESHLENS_REQUIRE_CAPTURES=1, or MESHLENS_CAPTURES set to a missing
# directory); with captures missing otherwise the tests that need them skip.
#
# Usage: bash scripts/captures.sh   (from anywhere)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
origin="they come from ../shared/testdata/envoy beside the repository, see CONTRIBUTING.md"

dir="${MESHLENS_CAPTURES:-../shared/testdata/envoy}"
[[ "$dir" == /* ]] || dir="$PWD/$dir"
dir="$(realpath -m -- "$dir" 2>/dev/null || echo "$dir")"
if [[ -d "$dir" ]]; then
	echo "captures: $(cd "$dir" && pwd) (found)"
	exit 0
fi

why=()
case "${MESHLENS_REQUIRE_CAPTURES:-}" in
1 | t | T | true | TRUE | True) why+=("MESHLENS_REQUIRE_CAPTURES=$MESHLENS_REQUIRE_CAPTURES") ;;
esac
[[ -z "${MESHLENS_CAPTURES:-}" ]] || why+=("MESHLENS_CAPTURES=$MESHLENS_CAPTURES")
if [[ ${#why[@]} -eq 0 ]]; then
	echo "captures: $dir not found: tests that need them are skipped ($origin; or set MESHLENS_CAPTURES)"
	exit 0
fi
echo "captures: $dir not found (${why[*]}): tests that need them fail ($origin; set MESHLENS_CAPTURES to their directory)" >&2
exit 1
