# Conveniences around the two commands in README.md (`go run ./cmd/fiscus`
# and `./scripts/test`); nothing here is needed to run or test Fiscus.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GOFLAGS_BUILD = -trimpath -ldflags "-s -w -X main.version=$(VERSION)"

.PHONY: help run build test lint ci docker compose-up compose-down clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

run: ## serve on :8080 in dev mode (go run ./cmd/fiscus)
	go run ./cmd/fiscus

build: ## build a static binary into bin/fiscus
	CGO_ENABLED=0 go build $(GOFLAGS_BUILD) -o bin/fiscus ./cmd/fiscus

test: ## run the tests on SQLite and PostgreSQL with -race (./scripts/test)
	./scripts/test

lint: ## go vet, gofmt and staticcheck
	go vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi
	go tool staticcheck ./...

ci: ## the full CI run (.ci/run)
	CI=true ./.ci/run

docker: ## build the container image fiscus:$(VERSION)
	docker build --build-arg VERSION=$(VERSION) -t fiscus:$(VERSION) .

compose-up: ## start app, PostgreSQL, Redis and NATS (needs APP_SECRET and POSTGRES_PASSWORD)
	docker compose up --build -d

compose-down: ## stop the compose services (volumes are kept)
	docker compose down

clean: ## remove build output (not ./data)
	rm -rf bin
