package kiali

// Config is the response: Kiali's cytoscape.Config.
type Config struct {
	Timestamp int64    `json:"timestamp"`
	Duration  int64    `json:"duration"`
	GraphType string   `json:"graphType"`
	Elements  Elements `json:"elements"`
}

// Elements are the nodes and edges; both are always arrays.
type Elements struct {
	Nodes []*NodeWrapper `json:"nodes"`
	Edges []*EdgeWrapper `json:"edges"`
}

// NodeWrapper wraps a node.
type NodeWrapper struct {
	Data *NodeData `json:"data"`
}

// EdgeWrapper wraps an edge.
type EdgeWrapper struct {
	Data *EdgeData `json:"data"`
}

// ServiceName names a destination service.
type ServiceName struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// SEInfo is Kiali's static service entry information.
type SEInfo struct {
	Hosts     []string `json:"hosts"`
	Location  string   `json:"location"`
	Namespace string   `json:"namespace"`
}

// ProtocolTraffic is the traffic of one protocol.
type ProtocolTraffic struct {
	Protocol  string            `json:"protocol,omitempty"`
	Rates     map[string]string `json:"rates,omitempty"`
	Responses Responses         `json:"responses,omitempty"`
}

// Responses maps response codes to details.
type Responses map[string]*ResponseDetail

// ResponseDetail is one response code's share by flags and by host.
type ResponseDetail struct {
	Flags map[string]string `json:"flags,omitempty"`
	Hosts map[string]string `json:"hosts,omitempty"`
}

// NodeData is Kiali's node data (the fields meshlens can know).
type NodeData struct {
	ID             string            `json:"id"`
	Parent         string            `json:"parent,omitempty"`
	NodeType       string            `json:"nodeType"`
	Cluster        string            `json:"cluster"`
	Namespace      string            `json:"namespace"`
	Workload       string            `json:"workload,omitempty"`
	App            string            `json:"app,omitempty"`
	Version        string            `json:"version,omitempty"`
	Service        string            `json:"service,omitempty"`
	DestServices   []ServiceName     `json:"destServices,omitempty"`
	Traffic        []ProtocolTraffic `json:"traffic,omitempty"`
	HealthData     any               `json:"healthData"`
	IsBox          string            `json:"isBox,omitempty"`
	IsIdle         bool              `json:"isIdle,omitempty"`
	IsInaccessible bool              `json:"isInaccessible,omitempty"`
	IsInjected     bool              `json:"isInjected,omitempty"`
	IsOutside      bool              `json:"isOutside,omitempty"`
	IsRoot         bool              `json:"isRoot,omitempty"`
	IsServiceEntry *SEInfo           `json:"isServiceEntry,omitempty"`

	rank int // box rank for sorting
}

// EdgeData is Kiali's edge data.
type EdgeData struct {
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Target          string          `json:"target"`
	DestPrincipal   string          `json:"destPrincipal,omitempty"`
	IsMTLS          string          `json:"isMTLS,omitempty"`
	ResponseTime    string          `json:"responseTime,omitempty"`
	SourcePrincipal string          `json:"sourcePrincipal,omitempty"`
	Throughput      string          `json:"throughput,omitempty"`
	Traffic         ProtocolTraffic `json:"traffic"`
}
