# gin-oauth-toolkit: `make test` runs the whole suite; `make demo` serves the demo.
GO        ?= go
TESTFLAGS ?=
FUZZTIME  ?= 5s
BENCHTIME ?= 1s

.PHONY: test demo vet race fuzz bench wrk ci

test: ## run every test (real Redis from REDIS_URL, else an in-process miniredis)
	$(GO) test $(TESTFLAGS) ./...

demo: ## serve the demo on :8000 with the embedded store
	$(GO) run ./demo

vet:
	$(GO) vet ./...

race:
	$(MAKE) test TESTFLAGS="-race $(TESTFLAGS)"

# Every fuzz target, one after another, for FUZZTIME each.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

bench: ## in-process benchmarks (see docs/benchmarks.md)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

wrk: ## load runs with wrk against the demo and a real Redis (see docs/benchmarks.md)
	./demo/bench/wrk.sh

ci:
	bash .ci/run
