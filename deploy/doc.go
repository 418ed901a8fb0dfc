// Package deploy holds no code: it is the Go module that checks the
// deployment files next to it (envoy/, istio/, envoy-gateway/, kubernetes/,
// prometheus/, local/) in `go test`, with the real schemas where they are
// cheap to have (Envoy's v3 protos, Istio's API protos, the Kubernetes API
// types) and structural checks elsewhere. It is a module of its own so that
// those dependencies never reach the meshlens binary.
//
// Run: cd deploy && go test ./...   (make test does it)
package deploy
