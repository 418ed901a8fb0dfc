// Package meshtest builds normalised records of a synthetic mesh for the
// topology tests: a Bookinfo-like namespace called from an ingress gateway
// and from outside the mesh, a gRPC call into a second namespace, a TCP
// service, an external host, a route-less 404 and proxy-generated failures,
// each call reported by the client, the server or both as Istio proxies
// would report it.
package meshtest
