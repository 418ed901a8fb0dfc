package topology

// Node identities follow Kiali's graph.Id (kiali-graph.md §3): the node key
// is what Kiali hashes into the node id.

func okVersion(v string) bool { return ok(v) && v != "latest" }

func unknownNode() Node {
	return Node{
		ID: unknown + "_unknown_source", Type: NodeUnknown, Cluster: unknown, Namespace: unknown,
		Workload: unknown, App: unknown, Version: unknown,
	}
}

func workloadNode(k *wlKey) Node {
	n := Node{
		ID: "wl_" + k.Cluster + "_" + k.Namespace + "_" + k.Name, Type: NodeWorkload,
		Cluster: k.Cluster, Namespace: k.Namespace, Workload: k.Name,
	}
	// Kiali keeps the app and version labels of workload nodes unless unknown.
	if k.CanonicalService != unknown {
		n.App = k.CanonicalService
	}
	if k.CanonicalRevision != unknown {
		n.Version = k.CanonicalRevision
	}
	return n
}

func appNode(k *wlKey) Node {
	return Node{
		ID: "app_" + k.Cluster + "_" + k.Namespace + "_" + k.CanonicalService, Type: NodeApp,
		Cluster: k.Cluster, Namespace: k.Namespace, App: k.CanonicalService,
	}
}

// versionedAppNode is keyed by workload when known, else by app and version.
func versionedAppNode(k *wlKey) Node {
	n := Node{
		Type: NodeApp, Cluster: k.Cluster, Namespace: k.Namespace,
		Workload: k.Name, App: k.CanonicalService, Version: k.CanonicalRevision,
	}
	switch {
	case ok(k.Name):
		n.ID = "vapp_" + k.Cluster + "_" + k.Namespace + "_" + k.Name
	case okVersion(k.CanonicalRevision):
		n.ID = "vapp_" + k.Cluster + "_" + k.Namespace + "_" + k.CanonicalService + "_" + k.CanonicalRevision
		n.Workload = ""
	default:
		return appNode(k)
	}
	if !ok(n.Workload) {
		n.Workload = ""
	}
	return n
}

func serviceNode(cluster, namespace, name string, injected bool) Node {
	if !ok(name) {
		name, injected = unknown, false
	}
	if namespace == "" {
		namespace = unknown
	}
	return Node{
		ID: "svc_" + cluster + "_" + namespace + "_" + name, Type: NodeService,
		Cluster: cluster, Namespace: namespace, Service: name, Injected: injected,
		EgressCluster: egressCluster(name),
	}
}

// serviceNode returns an injected service node (service graphs, injection).
func (b *builder) serviceNode(cluster, namespace, name string) Node {
	return serviceNode(cluster, namespace, name, true)
}

// sourceNode is the caller's node (Kiali never makes a caller a service
// node, except in service graphs).
func sourceNode(k *wlKey, g Granularity) Node {
	if k.unknownSource() {
		return unknownNode()
	}
	switch g {
	case App:
		if ok(k.CanonicalService) {
			return appNode(k)
		}
	case VersionedApp:
		if ok(k.CanonicalService) {
			return versionedAppNode(k)
		}
	default:
	}
	if ok(k.Name) {
		return workloadNode(k)
	}
	if ok(k.CanonicalService) {
		return appNode(k)
	}
	return unknownNode()
}

// destNode is the callee's node: its workload (or app) when known, else the
// service it was reached through.
func destNode(cluster string, svc *svcKey, k, src *wlKey, g Granularity) Node {
	d := *k
	d.Cluster = cluster
	if !ok(d.Namespace) {
		d.Namespace = svcNamespace(svc, k, src)
	}
	if !ok(d.Name) && !ok(d.CanonicalService) && !ok(svc.Name) {
		return serviceNode(cluster, d.Namespace, unknown, false)
	}
	switch g {
	case App:
		if ok(d.CanonicalService) {
			return appNode(&d)
		}
	case VersionedApp:
		if ok(d.CanonicalService) {
			return versionedAppNode(&d)
		}
	default:
	}
	if ok(d.Name) {
		return workloadNode(&d)
	}
	return serviceNode(cluster, svcNamespace(svc, k, src), svc.Name, false)
}
