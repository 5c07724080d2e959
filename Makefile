# Skiff's front door. `make help` lists the targets.

MODULES  := shared apiserver scheduler controller-manager nodeagent netproxy ctl e2e
DAEMONS  := apiserver scheduler controller-manager nodeagent netproxy
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
PKG      := github.com/skiffhq/skiff/shared/version
LDFLAGS  := -X $(PKG).Version=$(VERSION) -X $(PKG).GitCommit=$(COMMIT) -X $(PKG).BuildDate=$(DATE)
FUZZTIME ?= 10s
# Where `make run` keeps the cluster's data; see deploy/local-cluster.sh.
SKIFF_HOME ?= $(HOME)/.skiff

.PHONY: help build test unit vet fmt-check fuzz e2e e2e-fast bench lint deps run images clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

build: ## build the six binaries into bin/
	@mkdir -p bin
	@set -e; for m in $(DAEMONS); do \
		(cd $$m && $(GO) build -ldflags "$(LDFLAGS)" -o ../bin/skiff-$$m .); \
	done
	@cd ctl && $(GO) build -ldflags "$(LDFLAGS)" -o ../bin/skiffctl .
	@echo "built: $$(ls bin | tr '\n' ' ')"

test: deps fmt-check vet unit fuzz e2e-fast ## everything CI runs: format, vet, unit and integration tests, short fuzzing, fast e2e

unit: ## go test every module (all modules run; the target fails if any failed)
	@failed=""; for m in $(MODULES); do \
		echo "== go test $$m"; \
		(cd $$m && $(GO) test -count=1 -timeout 15m ./...) || failed="$$failed $$m"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED modules:$$failed"; exit 1; fi

vet: ## go vet every module
	@set -e; for m in $(MODULES); do (cd $$m && $(GO) vet ./...); done

fmt-check: ## fail if any file is not gofmt-formatted
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

fuzz: ## run each fuzz target briefly (FUZZTIME, default 10s)
	@set -e; for t in $$(grep -rhoE '^func Fuzz[A-Za-z0-9_]+' shared --include='*_test.go' | sed 's/func //' | sort -u); do \
		pkg=$$(grep -rlE "^func $$t\(" shared --include='*_test.go' | head -1 | xargs dirname); \
		echo "== fuzz $$t ($$pkg)"; \
		(cd shared && $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) ./$${pkg#shared/}); \
	done
	@set -e; for t in $$(grep -rhoE '^func Fuzz[A-Za-z0-9_]+' apiserver --include='*_test.go' | sed 's/func //' | sort -u); do \
		pkg=$$(grep -rlE "^func $$t\(" apiserver --include='*_test.go' | head -1 | xargs dirname); \
		echo "== fuzz $$t ($$pkg)"; \
		(cd apiserver && $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) ./$${pkg#apiserver/}); \
	done

e2e: deps build ## the whole end-to-end suite (slow, needs root)
	cd e2e && $(GO) test -count=1 -tags e2e -timeout 60m ./... -args -skiff-bin=$(CURDIR)/bin

e2e-fast: build ## the fast subset of the end-to-end suite
	cd e2e && $(GO) test -count=1 -tags e2e -short -timeout 20m ./... -args -skiff-bin=$(CURDIR)/bin

bench: build ## benchmarks of every module, figures printed; then pod start latency and the 3-node cluster figures (needs root)
	@set -e; for m in $(MODULES); do \
		(cd $$m && $(GO) test -run='^$$' -bench=. -benchmem ./...); \
	done
	cd e2e && $(GO) test -count=1 -tags e2e -run='^$$' -bench='^(BenchmarkCluster3|BenchmarkPodStart)$$' -benchtime=1x -timeout 30m . -args -skiff-bin=$(CURDIR)/bin

lint: fmt-check vet ## gofmt, go vet and the dependency-direction tests of every module
	@set -e; for m in $(filter-out e2e,$(MODULES)); do (cd $$m && $(GO) test -count=1 -run '^TestDependencies$$' .); done

deps: ## install the Debian packages Skiff needs (idempotent)
	@./deploy/install-deps.sh

run: deps build ## start a one-node cluster on this machine (Ctrl-C stops it)
	./deploy/local-cluster.sh --home "$(SKIFF_HOME)" --bin "$(CURDIR)/bin"

images: build ## an OCI image tarball per component under bin/images (docker/podman load, ctr import, --images-dir)
	cd e2e && $(GO) run ./cmd/component-images --bin $(CURDIR)/bin --out $(CURDIR)/bin/images --tag $(VERSION)

clean: ## remove build output
	rm -rf bin
