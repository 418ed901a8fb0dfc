// Package e2e holds meshlens's end-to-end tests: the real meshlens binary,
// started as a process on 127.0.0.1, fed over real gRPC with real Envoy
// captures and generated traffic, scraped by a real Prometheus (Debian's
// prometheus package), and later a real Jaeger and a real Chromium.
//
// The tests look up external programs on PATH. Outside CI a missing program
// skips the test; with CI=true (as .ci/run runs) it fails it.
package e2e
