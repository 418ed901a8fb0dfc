// Package captures locates the real Envoy captures (Access Log Service and
// Metrics Service messages, Kiali responses) that tests replay. They are not
// part of this repository: they live in ../shared/testdata/envoy beside it
// (see that directory's README.md for their provenance), or wherever the
// MESHLENS_CAPTURES environment variable points.
//
// Tests call [Dir]: it returns a path under the captures directory, and when
// the directory is missing it skips the test, or fails it if
// MESHLENS_REQUIRE_CAPTURES=1 (as CI sets) or if MESHLENS_CAPTURES was set
// explicitly. Code that is not a test uses [Path].
package captures
