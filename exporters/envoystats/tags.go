package envoystats

import (
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// tagRule is one tag extractor. It follows Envoy's TagExtractorImpl: the
// rule runs on the full flattened stat name; submatch 1 is the text removed
// from the name, submatch 2 (or 1 when there is no second group) is the tag
// value. Every rule runs on the original name and the removed spans are
// merged afterwards, exactly like Envoy's IntervalSet of characters to remove.
type tagRule struct {
	tag    string // Envoy tag name, e.g. "envoy.cluster_name"
	label  string // Prometheus label name (sanitized tag name)
	prefix string // fast reject: the name must start with it
	substr string // fast reject: the name must contain it
	re     *regexp.Regexp
	// pre, when set, is tried before re; it implements the Istio-compatible
	// refinements documented in doc.go. ok=false falls through to re.
	pre func(name string) (sp span, ok bool)
}

// span locates a match: [rmStart,rmEnd) is removed from the name and
// [valStart,valEnd) is the tag value.
type span struct{ rmStart, rmEnd, valStart, valEnd int }

// tagValue is one extracted tag, as a Prometheus label.
type tagValue struct{ label, value string }

// extracted is the result of running the tag rules over one flattened name;
// it is immutable once built and shared through the name cache.
type extracted struct {
	promName string     // "envoy_" + sanitized tag-extracted name
	help     string     // "Envoy stat <name with <label> placeholders>"
	tags     []tagValue // in rule order
}

// The rules below reproduce the default tag extractors of Envoy
// (source/common/config/well_known_names.cc, TagNameValues) in their
// regex form, translated to RE2: Envoy's "X(?=\.).*?" lookaheads are written
// "X(?:\..*?)??", which matches the same strings with the same preference.
// Rules with the same tag name are alternatives; the first match wins, as in
// Envoy, which extracts one value per tag name.
var defaultRules = []tagRule{
	// *_rq(_<response_code>)
	rule("envoy.response_code", "", "_rq_", `_rq(_(\d{3}))$`),
	// *_rq_(<response_code_class>)xx — value "2", name keeps "_rq_xx".
	rule("envoy.response_code_class", "", "_rq_", `_rq_(\d)xx$`),
	// http.[<stat_prefix>.]dynamodb.table.[<table_name>.]capacity.[<operation_name>.](__partition_id=<last_seven_characters_from_partition_id>)
	rule("envoy.dynamo_partition_id", "http", ".dynamodb.table.",
		`^http(?:\..*?)??\.dynamodb\.table(?:\..*?)??\.capacity(?:\..*?)??(\.__partition_id=(\w{7}))$`),
	// http.[<stat_prefix>.]dynamodb.operation.(<operation_name>.)<base_stat> or
	// http.[<stat_prefix>.]dynamodb.table.[<table_name>.]capacity.(<operation_name>.)[<partition_id>]
	rule("envoy.dynamo_operation", "http", ".dynamodb.",
		`^http(?:\..*?)??\.dynamodb.(?:operation|table(?:\..*?)??\.capacity)(\.(.*?))(?:\.|$)`),
	// mongo.[<stat_prefix>.]collection.[<collection>.]callsite.(<callsite>.)query.<base_stat>
	rule("envoy.mongo_callsite", "mongo", ".collection.",
		`^mongo(?:\..*?)??\.collection(?:\..*?)??\.callsite\.((.*?)\.).*?query.\w+?$`),
	// http.[<stat_prefix>.]dynamodb.table.(<table_name>.) or
	// http.[<stat_prefix>.]dynamodb.error.(<table_name>.)*
	rule("envoy.dynamo_table", "http", ".dynamodb.",
		`^http(?:\..*?)??\.dynamodb.(?:table|error)\.((.*?)\.)`),
	// mongo.[<stat_prefix>.]collection.(<collection>.)query.<base_stat>
	rule("envoy.mongo_collection", "mongo", ".collection.",
		`^mongo(?:\..*?)??\.collection\.((.*?)\.).*?query.\w+?$`),
	// mongo.[<stat_prefix>.]cmd.(<cmd>.)<base_stat>
	rule("envoy.mongo_cmd", "mongo", ".cmd.", `^mongo(?:\..*?)??\.cmd\.((.*?)\.)\w+?$`),
	// cluster.[<route_target_cluster>.]grpc.[<grpc_service>.](<grpc_method>.)<base_stat>
	rule("envoy.grpc_bridge_method", "cluster", ".grpc.",
		`^cluster(?:\..*?)??\.grpc(?:\..*)?\.((.*?)\.)\w+?$`),
	// http.[<stat_prefix>.]user_agent.(<user_agent>.)<base_stat>
	rule("envoy.http_user_agent", "http", ".user_agent.",
		`^http(?:\..*?)??\.user_agent\.((.*?)\.)\w+?$`),
	// vhost.[<virtual host name>.]vcluster.(<virtual_cluster_name>.)<base_stat>
	rule("envoy.virtual_cluster", "vhost", ".vcluster.",
		`^vhost(?:\..*?)??\.vcluster\.((.*?)\.)\w+?$`),
	// http.[<stat_prefix>.]fault.(<downstream_cluster>.)<base_stat>
	rule("envoy.fault_downstream_cluster", "http", ".fault.",
		`^http(?:\..*?)??\.fault\.((.*?)\.)\w+?$`),
	// listener.[<address>.]ssl.cipher.(<cipher>)
	rule("envoy.ssl_cipher", "listener", ".ssl.cipher.", `^listener(?:\..*?)??\.ssl\.cipher(\.(.*?))$`),
	// cluster.[<cluster_name>.]ssl.ciphers.(<cipher>) — tag name has no "envoy." prefix in Envoy.
	rule("cipher_suite", "cluster", ".ssl.ciphers.", `^cluster(?:\..*?)??\.ssl\.ciphers(\.(.*?))$`),
	// cluster.[<route_target_cluster>.]grpc.(<grpc_service>.)*
	rule("envoy.grpc_bridge_service", "cluster", ".grpc.", `^cluster(?:\..*?)??\.grpc\.((.*?)\.)`),
	// tcp.(<stat_prefix>.)<base_stat>
	rule("envoy.tcp_prefix", "tcp.", "", `^tcp\.((.*?)\.)\w+?$`),
	// udp.(<stat_prefix>.)<base_stat>
	rule("envoy.udp_prefix", "udp.", "", `^udp\.((.*?)\.)\w+?$`),
	// auth.clientssl.(<stat_prefix>.)<base_stat>
	rule("envoy.clientssl_prefix", "auth.clientssl.", "", `^auth\.clientssl\.((.*?)\.)\w+?$`),
	// ratelimit.(<stat_prefix>.)<base_stat>
	rule("envoy.ratelimit_prefix", "ratelimit.", "", `^ratelimit\.((.*?)\.)\w+?$`),
	// cluster.(<cluster_name>.)* — plus Istio's ";" terminator and FQDN names.
	withPre(rule("envoy.cluster_name", "cluster.", "", `^cluster\.((.*?)\.)`), istioClusterName),
	// listener.[<address>.]http.(<stat_prefix>.)*
	rule("envoy.http_conn_manager_prefix", "listener", ".http.", `^listener(?:\..*?)??\.http\.((.*?)\.)`),
	// http.(<stat_prefix>.)* — plus Istio's ";" terminator and listener-style prefixes.
	withPre(rule("envoy.http_conn_manager_prefix", "http.", "", `^http\.((.*?)\.)`), istioHTTPPrefix),
	// listener.(<address>.)*
	rule("envoy.listener_address", "listener.", "",
		`^listener\.(((?:[_.[:digit:]]*|[_\[\]aAbBcCdDeEfF[:digit:]]*))\.)`),
	// vhost.(<virtual host name>.)*
	rule("envoy.virtual_host", "vhost.", "", `^vhost\.((.*?)\.)`),
	// mongo.(<stat_prefix>.)*
	rule("envoy.mongo_prefix", "mongo.", "", `^mongo\.((.*?)\.)`),
	// http.[<stat_prefix>.]rds.(<route_config_name>.)<base_stat>
	rule("envoy.rds_route_config", "http", ".rds.", `^http(?:\..*?)??\.rds\.((.*?)\.)\w+?$`),
	// listener_manager.(worker_<id>.)*
	rule("envoy.worker_id", "listener_manager.worker_", "", `^listener_manager\.((worker_\d+)\.)`),
	// Newer Envoy releases (tokenized rules; one dot-free token as value).
	// vhost.[<virtual host name>.]route.(<route_stat_prefix>.)*
	rule("envoy.route", "vhost.", ".route.", `^vhost\.[^.]+\.route\.(([^.]+)\.)`),
	// thrift.(<stat_prefix>.)*
	rule("envoy.thrift_prefix", "thrift.", "", `^thrift\.(([^.]+)\.)`),
	// redis.(<stat_prefix>.)*
	rule("envoy.redis_prefix", "redis.", "", `^redis\.(([^.]+)\.)`),
	// (<stat_prefix>.)http_local_rate_limit.*
	rule("envoy.local_http_ratelimit_prefix", "", ".http_local_rate_limit.", `^(([^.]+)\.)http_local_rate_limit\.`),
	// local_rate_limit.(<stat_prefix>.)*
	rule("envoy.local_network_ratelimit_prefix", "local_rate_limit.", "", `^local_rate_limit\.(([^.]+)\.)`),
	// listener_local_ratelimit.(<stat_prefix>.)*
	rule("envoy.local_listener_ratelimit_prefix", "listener_local_ratelimit.", "", `^listener_local_ratelimit\.(([^.]+)\.)`),
	// dns_filter.(<stat_prefix>.)*
	rule("envoy.dns_filter_prefix", "dns_filter.", "", `^dns_filter\.(([^.]+)\.)`),
	// connection_limit.(<stat_prefix>.)*
	rule("envoy.connection_limit_prefix", "connection_limit.", "", `^connection_limit\.(([^.]+)\.)`),
}

func rule(tag, prefix, substr, expr string) tagRule {
	return tagRule{tag: tag, label: sanitizeLabelName(tag), prefix: prefix, substr: substr, re: regexp.MustCompile(expr)}
}

func withPre(r tagRule, pre func(string) (span, bool)) tagRule {
	r.pre = pre
	return r
}

// istioClusterFQDN is Istio's former cluster_name regex: a cluster name that
// ends in a Kubernetes service FQDN keeps its dots
// ("outbound|9080||reviews.default.svc.cluster.local").
var istioClusterFQDN = regexp.MustCompile(`^cluster\.((.+?\..+?\.svc\.cluster\.local)\.)`)

// istioClusterName handles Istio's cluster stat names: "cluster.<name>;.<stat>"
// (alt_stat_name with the ";" delimiter, Istio's regex ^cluster(\.(.+);)) and
// FQDN names without the delimiter.
func istioClusterName(name string) (span, bool) {
	const p = len("cluster.")
	if i := strings.LastIndexByte(name, ';'); i > p {
		return span{rmStart: p - 1, rmEnd: i + 1, valStart: p, valEnd: i}, true
	}
	if m := istioClusterFQDN.FindStringSubmatchIndex(name); m != nil {
		return span{rmStart: m[2], rmEnd: m[3], valStart: m[4], valEnd: m[5]}, true
	}
	return span{}, false
}

// istioHCMPrefix matches the stat prefixes Istio gives HTTP connection
// managers ("inbound_0.0.0.0_9080", "outbound_10.96.0.10_80", "inbound_[__]_80").
var istioHCMPrefix = regexp.MustCompile(`^http\.(((?:inbound|outbound)_(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:_]*\])_\d+)\.)`)

// istioHTTPPrefix handles "http.<prefix>;.<stat>" (Istio's delimited stat
// prefix) and Istio's listener-style prefixes, which contain dots.
func istioHTTPPrefix(name string) (span, bool) {
	const p = len("http.")
	if i := strings.Index(name[p:], ";."); i > 0 && strings.IndexByte(name[p:p+i], ';') < 0 {
		return span{rmStart: p, rmEnd: p + i + 2, valStart: p, valEnd: p + i}, true
	}
	if m := istioHCMPrefix.FindStringSubmatchIndex(name); m != nil {
		return span{rmStart: m[2], rmEnd: m[3], valStart: m[4], valEnd: m[5]}, true
	}
	return span{}, false
}

func (r *tagRule) match(name string) (span, bool) {
	if !strings.HasPrefix(name, r.prefix) || !strings.Contains(name, r.substr) {
		return span{}, false
	}
	if r.pre != nil {
		if sp, ok := r.pre(name); ok {
			return sp, true
		}
	}
	m := r.re.FindStringSubmatchIndex(name)
	if len(m) < 4 || m[2] < 0 {
		return span{}, false
	}
	sp := span{rmStart: m[2], rmEnd: m[3], valStart: m[2], valEnd: m[3]}
	if len(m) >= 6 && m[4] >= 0 {
		sp.valStart, sp.valEnd = m[4], m[5]
	}
	return sp, true
}

// istioPrefixes are the flattened names of Istio's standard metrics: the
// istio_stats filter's custom namespace, and the encoding used by the former
// Wasm stats filter ("reporter=.=source;.;…").
var istioPrefixes = []string{"istiocustom.", "reporter="}

func isIstioCustom(name string) bool {
	for _, p := range istioPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// extractTags runs the default rules over a flattened Envoy stat name and
// returns the Prometheus name Envoy's /stats/prometheus would print, its tags
// and a help text. ok is false for names that cannot be exposed (empty, not
// UTF-8).
func extractTags(name string) (*extracted, bool) {
	if name == "" || len(name) > MaxStatNameLength || !utf8.ValidString(name) {
		return nil, false
	}
	var (
		spans [8]span
		found = spans[:0]
		tags  []tagValue
		seen  [8]string
		done  = seen[:0]
	)
	for i := range defaultRules {
		r := &defaultRules[i]
		if slices.Contains(done, r.tag) {
			continue
		}
		sp, ok := r.match(name)
		if !ok {
			continue
		}
		done = append(done, r.tag)
		found = append(found, sp)
		tags = append(tags, tagValue{label: r.label, value: name[sp.valStart:sp.valEnd]})
	}
	return &extracted{
		promName: "envoy_" + sanitizeName(removeSpans(name, found)),
		help:     "Envoy stat " + helpPattern(name, found, tags),
		tags:     tags,
	}, true
}

// removeSpans deletes the union of the removal spans from name.
func removeSpans(name string, spans []span) string {
	if len(spans) == 0 {
		return name
	}
	drop := make([]bool, len(name))
	for _, sp := range spans {
		for i := sp.rmStart; i < sp.rmEnd; i++ {
			drop[i] = true
		}
	}
	var b strings.Builder
	b.Grow(len(name))
	for i := 0; i < len(name); i++ {
		if !drop[i] {
			b.WriteByte(name[i])
		}
	}
	return b.String()
}

// helpPattern replaces each tag value in name by "<label>", so every series
// of one family shares a help text: "cluster.<envoy_cluster_name>.upstream_rq_<envoy_response_code>".
func helpPattern(name string, spans []span, tags []tagValue) string {
	if len(spans) == 0 {
		return name
	}
	idx := make([]int, len(spans))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return spans[a].valStart - spans[b].valStart })
	var b strings.Builder
	pos := 0
	for _, i := range idx {
		sp := spans[i]
		if sp.valStart < pos { // overlapping values (e.g. gRPC service == method)
			continue
		}
		b.WriteString(name[pos:sp.valStart])
		b.WriteString("<" + tags[i].label + ">")
		pos = sp.valEnd
	}
	b.WriteString(name[pos:])
	return b.String()
}

// sanitizeName is Envoy's PrometheusStatsFormatter::sanitizeName: every byte
// outside [a-zA-Z0-9_] becomes '_'.
func sanitizeName(s string) string {
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if !isNameByte(b[j]) {
					b[j] = '_'
				}
			}
			return string(b)
		}
	}
	return s
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// sanitizeLabelName turns an Envoy tag name into a valid, non-reserved
// Prometheus label name ("" when nothing usable is left).
func sanitizeLabelName(s string) string {
	if s == "" {
		return ""
	}
	s = sanitizeName(s)
	if s[0] >= '0' && s[0] <= '9' {
		s = "_" + s
	}
	if strings.HasPrefix(s, "__") { // reserved for Prometheus' internal use
		s = "tag" + s
	}
	return s
}
