#!/usr/bin/env bash
# make demo-stack: meshlens with its simulated Bookinfo mesh (--demo), a real
# Prometheus scraping it, and a real Jaeger receiving the spans meshlens
# rebuilds from the access logs, as local processes (no containers), with
# their data in a temporary directory. Prints the URLs to open; Ctrl-C stops
# everything and removes the data.
#
# Needs: Go (to build meshlens if bin/meshlens is missing), Debian's
# prometheus package (apt-get install prometheus); Jaeger is built once by
# scripts/jaeger.sh (several minutes the first time). A missing Prometheus or
# Jaeger is skipped with a message; meshlens always runs.
#
# Environment (defaults in brackets):
#   MESHLENS_BIN            meshlens binary [bin/meshlens, built if missing]
#   MESHLENS_GRPC_ENDPOINT  meshlens gRPC (ALS, Metrics Service) [localhost:9001]
#   MESHLENS_HTTP_ENDPOINT  meshlens HTTP (page, API, /metrics) [localhost:9102]
#   DEMO_RATE               requests per second of the simulated mesh [20]
#   DEMO_SAMPLING_RATE      share of traces rebuilt as spans [0.1]
#   DEMO_PROMETHEUS         on | off [on]
#   DEMO_PROMETHEUS_ADDR    Prometheus listen address [localhost:9090]
#   DEMO_JAEGER             on | off [on]
#   DEMO_JAEGER_UI_ADDR     Jaeger UI [localhost:16686]
#   DEMO_JAEGER_OTLP_ADDR   Jaeger OTLP gRPC [localhost:4317]
#   DEMO_KEEP_DATA          1 keeps the data directory on exit [0]
#   GO                      go command [go]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
GO="${GO:-go}"
MESHLENS_BIN="${MESHLENS_BIN:-$root/bin/meshlens}"
GRPC_ADDR="${MESHLENS_GRPC_ENDPOINT:-localhost:9001}"
HTTP_ADDR="${MESHLENS_HTTP_ENDPOINT:-localhost:9102}"
RATE="${DEMO_RATE:-20}"
SAMPLING="${DEMO_SAMPLING_RATE:-0.1}"
PROM="${DEMO_PROMETHEUS:-on}"
PROM_ADDR="${DEMO_PROMETHEUS_ADDR:-localhost:9090}"
JAEGER="${DEMO_JAEGER:-on}"
JAEGER_UI_ADDR="${DEMO_JAEGER_UI_ADDR:-localhost:16686}"
JAEGER_OTLP_ADDR="${DEMO_JAEGER_OTLP_ADDR:-localhost:4317}"
KEEP="${DEMO_KEEP_DATA:-0}"

say() { printf 'demo-stack: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}

# --- processes and cleanup ---------------------------------------------------

data=""
declare -A pids=() # name -> pid
stopping=0

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stopping=1
	if [[ ${#pids[@]} -gt 0 ]]; then
		say "stopping ${!pids[*]}"
		local name pid
		for name in "${!pids[@]}"; do
			kill -TERM "${pids[$name]}" 2>/dev/null || true
		done
		# Up to 15 s for a graceful stop, then SIGKILL.
		for _ in $(seq 150); do
			local alive=0
			for pid in "${pids[@]}"; do
				if kill -0 "$pid" 2>/dev/null; then alive=1; fi
			done
			[[ $alive -eq 0 ]] && break
			sleep 0.1
		done
		for name in "${!pids[@]}"; do
			if kill -0 "${pids[$name]}" 2>/dev/null; then
				say "$name did not stop in 15s: killing it"
				kill -KILL "${pids[$name]}" 2>/dev/null || true
			fi
			wait "${pids[$name]}" 2>/dev/null || true
		done
	fi
	if [[ -n "$data" && -d "$data" ]]; then
		if [[ "$KEEP" == 1 ]]; then
			say "data kept in $data"
		else
			rm -rf "$data"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CMD... runs a process in the background, output to its log.
start() {
	local name="$1"
	shift
	"$@" >"$data/$name.log" 2>&1 &
	pids[$name]=$!
}

# wait_http NAME URL SECONDS [CURL_ARGS...] waits until URL answers 2xx.
wait_http() {
	local name="$1" url="$2" secs="$3"
	shift 3
	local deadline=$((SECONDS + secs))
	until curl -fsS -o /dev/null --max-time 2 "$@" "$url" 2>/dev/null; do
		if ! kill -0 "${pids[$name]}" 2>/dev/null; then
			say "$name exited while starting; the end of $data/$name.log:"
			tail -n 20 "$data/$name.log" >&2 || true
			exit 1
		fi
		if ((SECONDS > deadline)); then
			say "$name did not answer $url within ${secs}s; the end of $data/$name.log:"
			tail -n 20 "$data/$name.log" >&2 || true
			exit 1
		fi
		sleep 0.3
	done
}

# port_free HOST:PORT fails if something already listens there.
port_free() {
	local host="${1%:*}" port="${1##*:}"
	[[ -z "$host" || "$host" == "0.0.0.0" ]] && host=127.0.0.1
	if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
		die "$1 is already in use: stop what listens there or choose another address (see the top of $0)"
	fi
}

# --- what to run ---------------------------------------------------------------

command -v curl >/dev/null || die "curl is needed (apt-get install curl)"

if [[ ! -x "$MESHLENS_BIN" ]]; then
	say "building $MESHLENS_BIN"
	(cd "$root" && "$GO" build -o "$MESHLENS_BIN" ./cmd/meshlens)
fi

prometheus_bin=""
if [[ "$PROM" != off ]]; then
	if prometheus_bin="$(command -v prometheus)"; then
		:
	else
		prometheus_bin=""
		say "Prometheus not found: skipping it (Debian: apt-get install prometheus)"
	fi
fi

jaeger_bin=""
if [[ "$JAEGER" != off ]]; then
	if [[ -n "${JAEGER_BIN:-}" ]]; then
		jaeger_bin="$JAEGER_BIN"
	elif [[ -x "$root/scripts/jaeger.sh" || -f "$root/scripts/jaeger.sh" ]]; then
		say "getting Jaeger from scripts/jaeger.sh (the first build takes several minutes)"
		if ! jaeger_bin="$(GO="$GO" bash "$root/scripts/jaeger.sh")"; then
			jaeger_bin=""
			say "scripts/jaeger.sh failed: running without Jaeger (spans are not exported)"
		fi
	else
		say "scripts/jaeger.sh not found: running without Jaeger (spans are not exported)"
	fi
fi

port_free "$GRPC_ADDR"
port_free "$HTTP_ADDR"
[[ -n "$prometheus_bin" ]] && port_free "$PROM_ADDR"
if [[ -n "$jaeger_bin" ]]; then
	port_free "$JAEGER_UI_ADDR"
	port_free "$JAEGER_OTLP_ADDR"
fi

data="$(mktemp -d "${TMPDIR:-/tmp}/meshlens-demo.XXXXXX")"

# --- start -------------------------------------------------------------------

# Jaeger first, so that meshlens's exporter finds it.
if [[ -n "$jaeger_bin" ]]; then
	for a in localhost:4318 localhost:16685 localhost:13133; do port_free "$a"; done
	JAEGER_UI_ENDPOINT="$JAEGER_UI_ADDR" \
		JAEGER_OTLP_GRPC_ENDPOINT="$JAEGER_OTLP_ADDR" \
		JAEGER_OTLP_HTTP_ENDPOINT=localhost:4318 \
		JAEGER_QUERY_GRPC_ENDPOINT=localhost:16685 \
		JAEGER_HEALTH_ENDPOINT=localhost:13133 \
		JAEGER_PROMETHEUS_URL="http://$PROM_ADDR" \
		start jaeger "$jaeger_bin" --config "file:$root/deploy/local/jaeger.yaml"
	wait_http jaeger "http://$JAEGER_UI_ADDR/" 60
fi

meshlens_args=(--demo --demo-endpoint "$GRPC_ADDR" --demo-rate "$RATE")
if [[ -n "$jaeger_bin" ]]; then
	if "$MESHLENS_BIN" --help 2>&1 | grep -q -- '--traces-endpoint'; then
		meshlens_args+=(--traces-endpoint "$JAEGER_OTLP_ADDR")
	else # a meshlens built before --traces-endpoint
		meshlens_args+=(
			--set receivers::envoyals::traces::enabled=true
			--set "exporters::otlp::endpoint=$JAEGER_OTLP_ADDR"
			--set exporters::otlp::tls::insecure=true
			--set 'service::pipelines::traces::exporters=[otlp]'
		)
	fi
	meshlens_args+=(--set "receivers::envoyals::traces::sampling_rate=$SAMPLING")
fi
MESHLENS_GRPC_ENDPOINT="$GRPC_ADDR" MESHLENS_HTTP_ENDPOINT="$HTTP_ADDR" \
	start meshlens "$MESHLENS_BIN" "${meshlens_args[@]}"
wait_http meshlens "http://$HTTP_ADDR/readyz" 60

if [[ -n "$prometheus_bin" ]]; then
	# deploy/prometheus/prometheus.yml, pointed at the addresses in use.
	mkdir -p "$data/prometheus"
	sed -e "s/localhost:9102/$HTTP_ADDR/" -e "s/localhost:9090/$PROM_ADDR/" \
		"$root/deploy/prometheus/prometheus.yml" >"$data/prometheus/prometheus.yml"
	cp "$root/deploy/prometheus/meshlens-alerts.yml" "$data/prometheus/"
	start prometheus "$prometheus_bin" \
		--config.file="$data/prometheus/prometheus.yml" \
		--storage.tsdb.path="$data/prometheus/data" \
		--web.listen-address="$PROM_ADDR" \
		--enable-feature=exemplar-storage
	wait_http prometheus "http://$PROM_ADDR/-/ready" 60
fi

# --- running -----------------------------------------------------------------

{
	echo
	echo "meshlens demo stack is running (data and logs: $data)"
	echo
	echo "  live graph         http://$HTTP_ADDR/"
	echo "  metrics            http://$HTTP_ADDR/metrics"
	echo "  graph API          http://$HTTP_ADDR/api/v1/graph?namespaces=default"
	echo "  Kiali graph API    http://$HTTP_ADDR/api/namespaces/graph?namespaces=default"
	if [[ -n "$prometheus_bin" ]]; then
		echo "  Prometheus         http://$PROM_ADDR/graph?g0.expr=sum%20by%20(destination_service)%20(rate(istio_requests_total%7Breporter%3D%22destination%22%7D%5B1m%5D))&g0.tab=0"
		echo "  alerts             http://$PROM_ADDR/alerts"
	fi
	if [[ -n "$jaeger_bin" ]]; then
		echo "  Jaeger traces      http://$JAEGER_UI_ADDR/search?service=productpage"
		echo "  Jaeger monitor     http://$JAEGER_UI_ADDR/monitor"
	fi
	echo "  Envoys send to     $GRPC_ADDR (ALS v3, Metrics Service v3), e.g.:"
	echo "                     $MESHLENS_BIN loadgen --endpoint $GRPC_ADDR --mesh synthetic --rate 2000 --duration 1m"
	echo
	echo "Press Ctrl-C to stop everything."
} >&2

# Wait until one of them exits (or Ctrl-C, which runs cleanup).
while true; do
	wait -n "${pids[@]}" || true
	[[ $stopping -eq 1 ]] && exit 0
	for name in "${!pids[@]}"; do
		if ! kill -0 "${pids[$name]}" 2>/dev/null; then
			say "$name exited; the end of $data/$name.log:"
			tail -n 20 "$data/$name.log" >&2 || true
			unset "pids[$name]"
			exit 1
		fi
	done
done
