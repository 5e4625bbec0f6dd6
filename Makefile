# kube-triage-exporter. `make help` lists the targets.

SHELL := bash
GO ?= go
BIN := bin/kube-triage-exporter
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS := -s -w -X $(VERSION_PKG).Version=$(VERSION) -X $(VERSION_PKG).Revision=$(REVISION) \
	-X $(VERSION_PKG).Branch=$(BRANCH) -X $(VERSION_PKG).BuildUser=$(shell id -un)@$(shell hostname) \
	-X $(VERSION_PKG).BuildDate=$(shell date -u +%Y%m%d-%H:%M:%S)
IMAGE ?= localhost/kube-triage-exporter:$(VERSION)

.PHONY: help build demo test e2e unit bench bench-check lint golangci fmt vet promtool bins generate run image image-offline clean

help: ## Show this help.
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## Build the exporter into bin/.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/kube-triage-exporter

demo: build ## Start a local control plane with the guides' cases and run the exporter on it (Ctrl-C stops).
	$(GO) build -o bin/kube-triage-demo ./cmd/kube-triage-demo
	bin/kube-triage-demo --exporter=$(BIN) $(ARGS)

test: ## Run everything: gofmt, golangci-lint (govet among its linters), the unit and integration tests under -race, the end-to-end suite; times each step.
	GO=$(GO) bash hack/test.sh

e2e: bins ## Run only the end-to-end suite (Prometheus, Alertmanager, every scenario) and print its table.
	$(GO) test -count=1 -timeout 45m -v -run TestEndToEnd ./e2e

bench: bins ## Run the benchmarks and the load harness; ends with one NAME VALUE UNIT line per figure.
	GO=$(GO) bash hack/bench.sh

bench-check: bins ## make bench, then fail if a figure is more than 20% worse than hack/bench-baseline.txt.
	@mkdir -p bin
	GO=$(GO) bash hack/bench.sh > bin/bench.txt || { cat bin/bench.txt; exit 1; }
	cat bin/bench.txt
	$(GO) run ./hack/benchcheck -baseline hack/bench-baseline.txt < bin/bench.txt

unit: ## Run the unit tests only (no binaries to build).
	$(GO) test -count=1 -short ./...

lint: fmt vet golangci ## gofmt, go vet and golangci-lint (with promlinter).

golangci:
	$(GO) tool -modfile=tools/lint/go.mod golangci-lint run ./...

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet: ## go vet, here and for macOS (only internal/testbed/childproc has a file for other systems).
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./internal/testbed/childproc

generate: ## Write mixin/lib/guide.json from internal/guide and render the mixin into alerts/, dashboards/ and deploy/prometheusrule.yaml.
	$(GO) test -count=1 ./mixin -run TestShippedFilesAreTheMixin -update

promtool: ## Build promtool into .cache/bin (once per pin).
	bash hack/build-bins.sh promtool

bins: ## Build the local control plane, Prometheus and Alertmanager into .cache/bin (once per pin).
	bash hack/build-bins.sh

run: build ## Run the exporter against the current kubeconfig.
	$(BIN) $(ARGS)

image: ## Build the container image from the Dockerfile with buildah (needs registry access).
	buildah build --isolation chroot -f Dockerfile -t $(IMAGE) .

image-offline: ## Build the image from a binary built here (no registry access needed).
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/kube-triage-exporter ./cmd/kube-triage-exporter
	buildah build --isolation chroot -f Dockerfile.prebuilt -t $(IMAGE) dist

clean: ## Remove built binaries (not the control-plane cache).
	rm -rf bin dist
