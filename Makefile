# meshlens Makefile. `make help` lists the targets.

GO       ?= go
FUZZTIME ?= 10s
BIN      := bin

# Pinned tools, built from the internal/tools module (see internal/tools/go.mod).
TOOLS_DIR     := internal/tools
GOLANGCI_LINT := $(BIN)/golangci-lint
GOFUMPT       := $(BIN)/gofumpt
GOLANGCI_PKG  := github.com/golangci/golangci-lint/v2/cmd/golangci-lint
GOFUMPT_PKG   := mvdan.cc/gofumpt

.DEFAULT_GOAL := help

.PHONY: help build run test fuzz-smoke e2e bench loadtest loadtest-pinned scale instructions soak lint tools fmt generate dashboards dashboards-test dashboards-lint clean demo-stack deploy-test

help: ## List the targets
	@echo "Usage: make <target> [GO=go] [FUZZTIME=10s]"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build the collector binary into bin/meshlens
	$(GO) build -o $(BIN)/meshlens ./cmd/meshlens

run: build ## Build, then run ./bin/meshlens --demo
	./$(BIN)/meshlens --demo

test: ## Run all tests with the race detector (the receiver's and the hostile e2e tests also on its event loops), the deploy and dashboards checks, then the fuzz smoke test
	@bash scripts/captures.sh
	$(GO) test -race -count=1 -timeout 30m ./...
	MESHLENS_TEST_EVENT_LOOP=1 $(GO) test -race -count=1 ./collector/alsreceiver/
	MESHLENS_E2E_EVENT_LOOP=1 $(GO) test -race -count=1 -timeout 20m -run '$(EVENT_LOOP_E2E)' ./e2e/
	$(MAKE) deploy-test
	$(MAKE) dashboards-test dashboards-lint
	$(MAKE) fuzz-smoke

# The e2e tests of what a sender can make the receiver do, run again on the
# receiver's event loops (receivers::envoyals::event_loop, ADR 0014).
EVENT_LOOP_E2E = TestE2EHostile|TestE2EThousandsOfStreams|TestE2EOverload|TestE2EGracefulShutdown|TestE2EPrometheus$$

deploy-test: ## Check the deployment files (the deploy/ module: Envoy, Istio, Envoy Gateway, Kubernetes, Prometheus; and the collector configs in deploy/ and docs/ with meshlens's components)
	cd deploy && $(GO) test -count=1 ./...
	$(GO) test -count=1 -run 'Doc|Deploy|KubernetesConfigMap|FileLogAgent' ./collector/...

demo-stack: build ## Run meshlens --demo, Prometheus and Jaeger as local processes; Ctrl-C stops them
	@GO="$(GO)" MESHLENS_BIN="$(CURDIR)/$(BIN)/meshlens" bash deploy/local/demo-stack.sh

fuzz-smoke: ## Run every Fuzz* target for FUZZTIME (default 10s) each, one at a time
	@GO="$(GO)" FUZZTIME="$(FUZZTIME)" bash scripts/fuzz-smoke.sh

e2e: ## Run only the end-to-end tests (names containing E2E)
	@bash scripts/captures.sh
	$(GO) test -race -count=1 -run 'E2E' ./...

bench: ## Run all benchmarks once, with allocation stats
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./...

loadtest: ## End-to-end throughput (own and foreign traffic), the realistic regime, the gRPC transport's floor and latency (meshlens binary + loadgen), each with its bar, see BENCHMARKS.md
	MESHLENS_LOADTEST=1 $(GO) test -count=1 -v -run 'TestE2EThroughput|TestE2ETransportFloor|TestE2ELatency|TestE2EForeign|TestE2ERealistic' ./e2e/

loadtest-pinned: ## Throughput and latency with meshlens on CPU 0 and the generator on CPU 1 (taskset), see BENCHMARKS.md
	$(GO) test -c -o bin/e2e.test ./e2e/
	cd e2e && MESHLENS_LOADTEST=1 MESHLENS_E2E_CPUS=0 taskset -c 1 ../bin/e2e.test -test.count=1 -test.v -test.run 'TestE2EThroughput'
	cd e2e && MESHLENS_LOADTEST=1 MESHLENS_E2E_CPUS=0 MESHLENS_LATENCY_RATE=$${MESHLENS_LATENCY_RATE:-100000} taskset -c 1 ../bin/e2e.test -test.count=1 -test.v -test.run 'TestE2ELatency'

scale: ## Scale benchmark (issue 18): 1,000 services, 30,000 label sets; scrape, push, RSS and ingest in one run, see BENCHMARKS.md
	MESHLENS_SCALE=1 $(GO) test -count=1 -v -timeout 30m -run 'TestE2EScale' ./e2e/

instructions: ## Instructions per entry of decode and of the whole pipeline, under valgrind (deterministic), see BENCHMARKS.md
	@GO="$(GO)" bash scripts/instructions.sh

soak: ## Soak test: 20 minutes at a steady rate, memory and goroutines must stay flat
	MESHLENS_SOAK=$${MESHLENS_SOAK:-20m} $(GO) test -count=1 -v -timeout 40m -run 'TestE2ESoak' ./e2e/

lint: $(GOLANGCI_LINT) ## Run golangci-lint (built from internal/tools if missing)
	$(GOLANGCI_LINT) run ./...

tools: $(GOLANGCI_LINT) $(GOFUMPT) ## Build the pinned tools into bin/

# Rebuilt when missing or when the pinned versions change.
$(GOLANGCI_LINT): $(TOOLS_DIR)/go.mod $(TOOLS_DIR)/go.sum
	@mkdir -p $(BIN)
	cd $(TOOLS_DIR) && $(GO) build -o $(CURDIR)/$(GOLANGCI_LINT) $(GOLANGCI_PKG)

$(GOFUMPT): $(TOOLS_DIR)/go.mod $(TOOLS_DIR)/go.sum
	@mkdir -p $(BIN)
	cd $(TOOLS_DIR) && $(GO) build -o $(CURDIR)/$(GOFUMPT) $(GOFUMPT_PKG)

fmt: $(GOLANGCI_LINT) ## Format the code (gofumpt + goimports, as configured in .golangci.yml)
	$(GOLANGCI_LINT) fmt ./...

generate: ## Run go generate (placeholder: no generators yet)
	$(GO) generate ./...

dashboards: ## Regenerate deploy/grafana (dashboards JSON + provisioning) with the dashboards/ module
	@if [ -f dashboards/go.mod ]; then \
		echo "cd dashboards && $(GO) run ."; \
		(cd dashboards && $(GO) run .) || exit 1; \
		if [ -n "$$CI" ] && [ -n "$$(git status --porcelain --untracked-files=all -- deploy/grafana 2>/dev/null)" ]; then \
			echo "dashboards: deploy/grafana differs from what is committed (git diff misses new files):"; \
			git status --porcelain --untracked-files=all -- deploy/grafana; \
			exit 1; \
		fi; \
	else \
		echo "dashboards: no dashboards/go.mod yet, skipping"; \
	fi

DASHBOARD_LINTER     := $(BIN)/dashboard-linter
DASHBOARD_LINTER_DIR := internal/tools/dashboardlinter

dashboards-test: ## Vet and test the dashboards module (golden JSON, query rules, PromQL parsing, discovery)
	cd dashboards && $(GO) vet ./... && $(GO) test -race -count=1 ./...

dashboards-lint: $(DASHBOARD_LINTER) ## Lint every generated dashboard with Grafana's dashboard-linter --strict
	@if [ -e deploy/grafana/dashboards/.lint ]; then echo "dashboards-lint: no lint exclusions (.lint) allowed"; exit 1; fi
	@for f in deploy/grafana/dashboards/*.json dashboards/testdata/*.json; do \
		echo "$(DASHBOARD_LINTER) lint --strict $$f"; \
		out=$$(./$(DASHBOARD_LINTER) lint --strict "$$f" 2>&1) || { echo "$$out"; exit 1; }; \
	done

$(DASHBOARD_LINTER): $(DASHBOARD_LINTER_DIR)/go.mod $(DASHBOARD_LINTER_DIR)/go.sum
	@mkdir -p $(BIN)
	cd $(DASHBOARD_LINTER_DIR) && $(GO) build -o $(CURDIR)/$(DASHBOARD_LINTER) github.com/grafana/dashboard-linter

clean: ## Remove build output (bin/)
	rm -rf $(BIN)
