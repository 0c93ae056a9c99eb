# cellpay build targets. `make test` is the command CI runs (see README.md).
GO        ?= go
PKGS      := ./...
TEST_TIMEOUT ?= 20m
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1

.PHONY: build test fuzz bench chaos lint proto proto-tools

build:
	$(GO) build $(PKGS)

# Every package runs under the race detector; the short fuzz runs follow.
test: lint
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)
	$(MAKE) fuzz

# Short coverage-guided fuzz runs of everything that decodes bytes from the
# network or disk. FUZZTIME keeps CI short; raise it for a real hunt. It is a
# count, not a duration: a duration races the fuzz coordinator's deadline on a
# loaded machine and fails with "context deadline exceeded" (golang/go#75804).
FUZZTIME ?= 20000x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeLog$$' -fuzztime $(FUZZTIME) ./replication/storage/
	$(GO) test -run '^$$' -fuzz '^FuzzTransportDecode$$' -fuzztime $(FUZZTIME) ./replication/transport/
	$(GO) test -run '^$$' -fuzz '^FuzzSnapshotDecode$$' -fuzztime $(FUZZTIME) ./replication/
	$(GO) test -run '^$$' -fuzz '^FuzzValidate$$' -fuzztime $(FUZZTIME) ./cell/
	$(GO) test -run '^$$' -fuzz '^FuzzApply$$' -fuzztime $(FUZZTIME) ./cell/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./cell/topology/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeMeta$$' -fuzztime $(FUZZTIME) ./router/gossip/
	$(GO) test -run '^$$' -fuzz '^FuzzHandler$$' -fuzztime $(FUZZTIME) ./router/httpapi/
	$(GO) test -run '^$$' -fuzz '^FuzzApply$$' -fuzztime $(FUZZTIME) ./router/meta/
	$(GO) test -run '^$$' -fuzz '^FuzzHandler$$' -fuzztime $(FUZZTIME) ./cell/channel/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeTransfer$$' -fuzztime $(FUZZTIME) ./cell/reconcile/

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3s -timeout 60m ./replication/... ./cell/

# Every chaos scenario (as `cellpay chaos run --list` names them), several
# seeds, longer runs (not in CI: 12 scenarios x 5 seeds x ~70 s, over an hour).
CHAOS_SEEDS ?= 1 2 3 4 5
CHAOS_DURATION ?= 60s
chaos:
	$(GO) build -o bin/cellpay ./cmd/cellpay
	@set -e; scenarios=$$(bin/cellpay chaos run --list); test -n "$$scenarios"; \
	for sc in $$scenarios; do \
	  for seed in $(CHAOS_SEEDS); do \
	    bin/cellpay chaos run --scenario $$sc --seed $$seed --duration $(CHAOS_DURATION) --out chaos-reports/$$sc-$$seed; \
	  done; \
	done

# The embedded demo: a whole three-site cluster in this process, traffic, a
# fiber cut, failover, failback and a reconciliation, in under two minutes.
# DEMO_FLAGS passes flags, e.g. make demo DEMO_FLAGS=--interactive.
.PHONY: demo
DEMO_FLAGS ?=
demo:
	$(GO) build -o bin/cellpay ./cmd/cellpay
	bin/cellpay demo $(DEMO_FLAGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

proto-tools:
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

# Regenerates the committed Go code from api/**/*.proto (needs protoc: apt-get install protobuf-compiler).
proto: proto-tools
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc -I api \
		--go_out=api --go_opt=paths=source_relative \
		--go-grpc_out=api --go-grpc_opt=paths=source_relative \
		$$(find api -name '*.proto')

# A local multi-process cluster (deploy/topologies/local.yaml: 6 nodes, 3
# routers, the chaos proxy between sites, on 127.0.1-3.x), run directory
# bin/cluster (see deploy/README.md). cluster-stop stops exactly what it started.
.PHONY: cluster cluster-stop
cluster:
	deploy/local/cluster-up.sh

cluster-stop:
	deploy/local/cluster-down.sh
