# greenlight: the same steps CI runs (.ci/run calls `make test`).
SHELL := /bin/bash
FUNCTIONS := resolve lock start check watch finalize smoketest notify
GO_PACKAGES := ./...
BIN := $(CURDIR)/.bin
export PATH := $(BIN):$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: test lint validate build tools demo

## test: validate the template and state machine, then every Go test (tests start their own moto).
test: validate
	go test -count=1 -timeout 20m $(GO_PACKAGES)

## lint: gofmt and go vet.
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	go vet $(GO_PACKAGES)

## validate: cfn-lint (no errors, no warnings) and asl-validator on every ASL file.
validate: node_modules
	cfn-lint template.yaml
	@if [ -f environment/template.yaml ]; then cfn-lint environment/template.yaml; fi
	@for f in statemachine/*.asl.json; do asl-validator --json-path "$$f" || exit 1; done

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

## build: sam build when the SAM CLI is installed, else each bootstrap for linux/arm64 into build/.
build:
	@if command -v sam >/dev/null 2>&1; then sam build; else \
	  for f in $(FUNCTIONS); do \
	    [ -d functions/$$f ] && ls functions/$$f/*.go >/dev/null 2>&1 || { echo "skip $$f (no code)"; continue; }; \
	    echo "build/$$f/bootstrap"; \
	    CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -trimpath -ldflags='-s -w' -o build/$$f/bootstrap ./functions/$$f || exit 1; \
	  done; \
	fi

## demo: rehearse a blue/green deployment on this machine: local AWS, the ECS emulator, the real
## Lambdas (SCENARIO=all, or any name from `go run ./cmd/greenlight rehearse --list`; docs/rehearsal.md).
SCENARIO ?= healthy
demo:
	go run ./cmd/greenlight rehearse --scenario $(SCENARIO)
