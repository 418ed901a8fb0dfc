package deploy

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

const k8sDir = "kubernetes/"

// k8sDecoder decodes YAML manifests into the Kubernetes API types, strictly:
// an unknown or duplicated field is an error, as with kubectl's
// server-side field validation.
func k8sDecoder(t *testing.T) runtime.Decoder {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{appsv1.AddToScheme, corev1.AddToScheme, networkingv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}

// manifests holds the decoded objects of deploy/kubernetes/.
type manifests struct {
	ns      *corev1.Namespace
	sa      *corev1.ServiceAccount
	cm      *corev1.ConfigMap
	secret  *corev1.Secret
	deploy  *appsv1.Deployment
	svc     *corev1.Service
	netpol  *networkingv1.NetworkPolicy
	kustRes []string
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	dec := k8sDecoder(t)
	m := &manifests{}
	var kust struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Resources  []string `json:"resources"`
		Images     []struct {
			Name    string `json:"name"`
			NewName string `json:"newName"`
			NewTag  string `json:"newTag"`
		} `json:"images"`
	}
	if err := strictYAML(readFile(t, k8sDir+"kustomization.yaml"), &kust); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if kust.APIVersion != "kustomize.config.k8s.io/v1beta1" || kust.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml: %s %s", kust.APIVersion, kust.Kind)
	}
	m.kustRes = kust.Resources
	if len(kust.Images) != 1 || kust.Images[0].Name != "meshlens" || kust.Images[0].NewName == "" || kust.Images[0].NewTag == "" {
		t.Errorf("kustomization.yaml: want one images entry for meshlens with newName and newTag (the getting-started guide edits them)")
	}
	// Everything kustomize applies, plus the Secret example.
	for _, f := range append(slices.Clone(kust.Resources), "secret.example.yaml") {
		for _, doc := range yamlDocs(t, k8sDir+f) {
			obj, gvk, err := dec.Decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			switch o := obj.(type) {
			case *corev1.Namespace:
				m.ns = o
			case *corev1.ServiceAccount:
				m.sa = o
			case *corev1.ConfigMap:
				m.cm = o
			case *corev1.Secret:
				m.secret = o
			case *appsv1.Deployment:
				m.deploy = o
			case *corev1.Service:
				m.svc = o
			case *networkingv1.NetworkPolicy:
				m.netpol = o
			default:
				t.Fatalf("%s: unexpected %s", f, gvk)
			}
		}
	}
	if m.ns == nil || m.sa == nil || m.cm == nil || m.secret == nil || m.deploy == nil || m.svc == nil || m.netpol == nil {
		t.Fatal("want a Namespace, ServiceAccount, ConfigMap, Secret, Deployment, Service and NetworkPolicy")
	}
	return m
}

// TestKubernetesFilesListed: every manifest is applied by kustomize or is
// one of the documented extras.
func TestKubernetesFilesListed(t *testing.T) {
	m := loadManifests(t)
	extras := []string{"kustomization.yaml", "secret.example.yaml", "servicemonitor.yaml"}
	files, err := filepath.Glob(filepath.FromSlash(k8sDir + "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		if !slices.Contains(m.kustRes, name) && !slices.Contains(extras, name) {
			t.Errorf("%s is neither in kustomization.yaml nor a documented extra", name)
		}
	}
	for _, r := range m.kustRes {
		if _, err := os.Stat(filepath.FromSlash(k8sDir + r)); err != nil {
			t.Errorf("kustomization.yaml: %v", err)
		}
	}
}

// collectorConfig is the part of the ConfigMap's collector YAML the
// manifests depend on (the whole config is validated by meshlens itself in
// collector/deploy_test.go).
type collectorConfig struct {
	Extensions struct {
		Meshlens struct {
			Endpoint string `json:"endpoint"`
			APIAuth  struct {
				BearerToken string `json:"bearer_token"`
			} `json:"api_auth"`
			MetricsPath string `json:"metrics_path"`
		} `json:"meshlens"`
	} `json:"extensions"`
	Receivers struct {
		Envoyals struct {
			Endpoint       string `json:"endpoint"`
			MemoryLimitMiB int64  `json:"memory_limit_mib"`
		} `json:"envoyals"`
	} `json:"receivers"`
}

func TestKubernetesManifests(t *testing.T) {
	m := loadManifests(t)
	const ns = "meshlens"
	for _, o := range []interface {
		GetNamespace() string
		GetName() string
	}{m.sa, m.cm, m.secret, m.deploy, m.svc, m.netpol} {
		if o.GetNamespace() != ns {
			t.Errorf("%s: namespace %q, want %q", o.GetName(), o.GetNamespace(), ns)
		}
	}
	// The Istio, Envoy Gateway and Envoy files point at this name.
	if got := m.svc.Name + "." + m.svc.Namespace + ".svc.cluster.local"; got != meshlensService {
		t.Errorf("the Service is %s, the proxy configs use %s", got, meshlensService)
	}
	if m.ns.Name != ns {
		t.Errorf("Namespace %q, want %q", m.ns.Name, ns)
	}

	d := m.deploy
	pod := d.Spec.Template
	podLabels := labels.Set(pod.Labels)
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || !sel.Matches(podLabels) {
		t.Errorf("Deployment selector does not match its pod labels")
	}
	if !labels.SelectorFromSet(m.svc.Spec.Selector).Matches(podLabels) {
		t.Error("Service selector does not match the pods")
	}
	if ps, err := metav1.LabelSelectorAsSelector(&m.netpol.Spec.PodSelector); err != nil || !ps.Matches(podLabels) {
		t.Error("NetworkPolicy podSelector does not match the pods")
	}
	if pod.Annotations["sidecar.istio.io/inject"] != "false" {
		t.Error("the pod must not get an Istio sidecar (its access logs would feed back)")
	}
	if pod.Spec.ServiceAccountName != m.sa.Name {
		t.Errorf("serviceAccountName %q, want %q", pod.Spec.ServiceAccountName, m.sa.Name)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("want one container")
	}
	c := pod.Spec.Containers[0]
	if name, _, _ := strings.Cut(c.Image, ":"); name != "meshlens" {
		t.Errorf("image %q: kustomization.yaml's images entry replaces the image named meshlens", c.Image)
	}

	// Security: non-root, read-only root filesystem, no privileges.
	psc, csc := pod.Spec.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Error("the pod must run as a non-root user")
	}
	if csc == nil || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem ||
		csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
		csc.Capabilities == nil || !slices.Contains(csc.Capabilities.Drop, "ALL") {
		t.Error("the container needs readOnlyRootFilesystem, no privilege escalation and all capabilities dropped")
	}

	// Resources: requests and limits, and a heap limit below the memory limit.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("no %s request", r)
		}
		if _, ok := c.Resources.Limits[r]; !ok {
			t.Errorf("no %s limit", r)
		}
	}

	// Ports: named, and the probes and the Service use those names.
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["grpc-als"] != meshlensGRPCPort || ports["http"] != meshlensHTTPPort {
		t.Errorf("container ports %v, want grpc-als %d and http %d", ports, meshlensGRPCPort, meshlensHTTPPort)
	}
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("no %s HTTP probe", name)
			continue
		}
		if resolvePort(p.HTTPGet.Port, ports) != meshlensHTTPPort {
			t.Errorf("%s probe port %s is not the HTTP port", name, p.HTTPGet.Port.String())
		}
	}
	if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe path %q, want /healthz", c.LivenessProbe.HTTPGet.Path)
	}
	if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe path %q, want /readyz", c.ReadinessProbe.HTTPGet.Path)
	}
	svcPorts := map[int32]corev1.ServicePort{}
	for _, sp := range m.svc.Spec.Ports {
		svcPorts[sp.Port] = sp
		if resolvePort(sp.TargetPort, ports) != sp.Port {
			t.Errorf("Service port %d targets %s, not the container port %d", sp.Port, sp.TargetPort.String(), sp.Port)
		}
	}
	if sp, ok := svcPorts[meshlensGRPCPort]; !ok || sp.AppProtocol == nil || *sp.AppProtocol != "grpc" {
		t.Errorf("Service: port %d needs appProtocol grpc (proxies must use HTTP/2)", meshlensGRPCPort)
	}
	if _, ok := svcPorts[meshlensHTTPPort]; !ok {
		t.Errorf("Service: no port %d", meshlensHTTPPort)
	}
	for _, rule := range m.netpol.Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Port == nil || resolvePort(*p.Port, ports) == 0 {
				t.Errorf("NetworkPolicy opens port %v, which the container does not have", p.Port)
			}
		}
	}
	opened := map[int32]bool{}
	for _, rule := range m.netpol.Spec.Ingress {
		for _, p := range rule.Ports {
			opened[resolvePort(*p.Port, ports)] = true
		}
	}
	if !opened[meshlensGRPCPort] || !opened[meshlensHTTPPort] {
		t.Errorf("NetworkPolicy must open both ports, opens %v", opened)
	}

	// The config: from the ConfigMap, at the path --config names.
	configPath := ""
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			configPath = v
		}
	}
	if configPath == "" {
		t.Fatal("no --config=<file> argument")
	}
	var mount *corev1.VolumeMount
	for i := range c.VolumeMounts {
		if filepath.Dir(configPath) == filepath.Clean(c.VolumeMounts[i].MountPath) {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil {
		t.Fatalf("--config=%s is not in a mounted volume", configPath)
	}
	var cmVolume *corev1.ConfigMapVolumeSource
	for _, v := range pod.Spec.Volumes {
		if v.Name == mount.Name {
			cmVolume = v.ConfigMap
		}
	}
	if cmVolume == nil || cmVolume.Name != m.cm.Name {
		t.Fatalf("the config volume is not the ConfigMap %s", m.cm.Name)
	}
	raw, ok := m.cm.Data[filepath.Base(configPath)]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s", m.cm.Name, filepath.Base(configPath))
	}
	var cfg collectorConfig
	if err := yaml.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatalf("ConfigMap config: %v", err)
	}
	for name, ep := range map[string]struct {
		endpoint string
		port     int32
	}{
		"receivers::envoyals::endpoint":  {cfg.Receivers.Envoyals.Endpoint, ports["grpc-als"]},
		"extensions::meshlens::endpoint": {cfg.Extensions.Meshlens.Endpoint, ports["http"]},
	} {
		host, port, err := net.SplitHostPort(ep.endpoint)
		if err != nil || port != strconv.Itoa(int(ep.port)) {
			t.Errorf("%s %q does not listen on the container port %d", name, ep.endpoint, ep.port)
		}
		if host == "localhost" || strings.HasPrefix(host, "127.") {
			t.Errorf("%s %q is a loopback address: unreachable from other pods", name, ep.endpoint)
		}
	}
	memLimit := c.Resources.Limits[corev1.ResourceMemory]
	heap := resource.NewQuantity(cfg.Receivers.Envoyals.MemoryLimitMiB<<20, resource.BinarySI)
	if cfg.Receivers.Envoyals.MemoryLimitMiB <= 0 || heap.Cmp(memLimit) >= 0 {
		t.Errorf("receivers::envoyals::memory_limit_mib (%d MiB) must be set and below the container limit %s", cfg.Receivers.Envoyals.MemoryLimitMiB, memLimit.String())
	}
	if cfg.Extensions.Meshlens.MetricsPath != "" && cfg.Extensions.Meshlens.MetricsPath != "/metrics" {
		t.Errorf("metrics_path %q: the scrape configs use /metrics", cfg.Extensions.Meshlens.MetricsPath)
	}

	// The API token: ${env:VAR} in the config, VAR from the Secret.
	tok := cfg.Extensions.Meshlens.APIAuth.BearerToken
	envVar, ok := strings.CutPrefix(tok, "${env:")
	if !ok || !strings.HasSuffix(envVar, "}") {
		t.Fatalf("api_auth.bearer_token %q: want ${env:VAR}, the token must not be in the ConfigMap", tok)
	}
	envVar = strings.TrimSuffix(envVar, "}")
	var ref *corev1.SecretKeySelector
	for _, e := range c.Env {
		if e.Name == envVar && e.ValueFrom != nil {
			ref = e.ValueFrom.SecretKeyRef
		}
	}
	if ref == nil {
		t.Fatalf("%s is not set from a Secret", envVar)
	}
	if ref.Optional != nil && *ref.Optional {
		t.Error("the token Secret must not be optional: meshlens would bind without it and fail")
	}
	if ref.Name != m.secret.Name {
		t.Errorf("%s comes from Secret %q, the example is %q", envVar, ref.Name, m.secret.Name)
	}
	if _, ok := m.secret.StringData[ref.Key]; !ok {
		t.Errorf("secret.example.yaml has no key %q", ref.Key)
	}
}

// TestServiceMonitor checks the Prometheus Operator example against the
// Service and the Secret.
func TestServiceMonitor(t *testing.T) {
	m := loadManifests(t)
	const path = k8sDir + "servicemonitor.yaml"
	docs := yamlDocs(t, path)
	if len(docs) != 1 {
		t.Fatalf("%s: want one document", path)
	}
	o := decodeObject(t, path, docs[0])
	if o.APIVersion != "monitoring.coreos.com/v1" || o.Kind != "ServiceMonitor" {
		t.Fatalf("%s: %s %s", path, o.APIVersion, o.Kind)
	}
	// The fields used, as in the operator's monitoringv1.ServiceMonitorSpec.
	var spec struct {
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			HonorLabels   bool   `json:"honorLabels"`
			Authorization struct {
				Type        string                   `json:"type"`
				Credentials corev1.SecretKeySelector `json:"credentials"`
			} `json:"authorization"`
		} `json:"endpoints"`
	}
	if err := strictJSON(o.Spec, &spec); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !labels.SelectorFromSet(spec.Selector.MatchLabels).Matches(labels.Set(m.svc.Labels)) {
		t.Errorf("%s: selector does not match the Service's labels", path)
	}
	if !slices.Contains(spec.NamespaceSelector.MatchNames, m.svc.Namespace) || o.Metadata.Namespace != m.secret.Namespace {
		t.Errorf("%s: must select namespace %s and live next to the token Secret", path, m.svc.Namespace)
	}
	if len(spec.Endpoints) != 1 {
		t.Fatalf("%s: want one endpoint", path)
	}
	ep := spec.Endpoints[0]
	found := false
	for _, sp := range m.svc.Spec.Ports {
		found = found || sp.Name == ep.Port && sp.Port == meshlensHTTPPort
	}
	if !found {
		t.Errorf("%s: port %q is not the Service's HTTP port", path, ep.Port)
	}
	if !ep.HonorLabels {
		t.Errorf("%s: honorLabels must be true (envoy_* series carry namespace and pod)", path)
	}
	if ep.Authorization.Type != "Bearer" || ep.Authorization.Credentials.Name != m.secret.Name {
		t.Errorf("%s: want Bearer authorization from Secret %s", path, m.secret.Name)
	}
	if _, ok := m.secret.StringData[ep.Authorization.Credentials.Key]; !ok {
		t.Errorf("%s: the Secret has no key %q", path, ep.Authorization.Credentials.Key)
	}
}

// TestKubernetesStrictDecoding: an unknown field must fail the decode.
func TestKubernetesStrictDecoding(t *testing.T) {
	bad := []byte("apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  ports:\n  - port: 1\n    appProtocl: grpc\n")
	_, _, err := k8sDecoder(t).Decode(bad, nil, nil)
	if err == nil || !runtime.IsStrictDecodingError(err) || !strings.Contains(err.Error(), "appProtocl") {
		t.Errorf("a misspelt field passed strict decoding: %v", err)
	}
}

// resolvePort returns the container port a named or numbered port refers
// to (0 if none).
func resolvePort(p intstr.IntOrString, named map[string]int32) int32 {
	if p.Type == intstr.String {
		return named[p.StrVal]
	}
	for _, v := range named {
		if v == p.IntVal {
			return v
		}
	}
	return 0
}
