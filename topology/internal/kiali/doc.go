// Package kiali renders a topology snapshot as the JSON of Kiali's graph API
// (GET /api/namespaces/graph), exactly as kiali-graph.md describes it: node
// and edge ids are SHA-256 hashes of Kiali's keys, rates are strings with
// Kiali's precision rules, node traffic is accumulated from edges, boxes and
// ordering follow Kiali's cytoscape config generator.
package kiali
