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

# Every fuzz target, one after another, for FUZZTIME each. A run that fails
# without writing a failing input under testdata/fuzz (Go's fuzzer can end
# with "context deadline exceeded" when a worker is starved on a loaded
# 2-core machine) is run once more; one that found an input fails at once.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; \
	    dir=$$($(GO) list -f '{{.Dir}}' $$pkg)/testdata/fuzz/$$f; \
	    before=$$(ls $$dir 2>/dev/null | wc -l); \
	    if ! $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; then \
	      after=$$(ls $$dir 2>/dev/null | wc -l); \
	      if [ "$$after" != "$$before" ]; then echo "fuzz: $$f found a failing input in $$dir" >&2; exit 1; fi; \
	      echo "fuzz: $$f failed without a failing input (the fuzzer's own time-out on a loaded machine); once more" >&2; \
	      $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	    fi; \
	  done; \
	done

bench: ## in-process benchmarks (see docs/benchmarks.md)
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

wrk: ## load runs with wrk against the demo and a real Redis (see docs/benchmarks.md)
	./demo/bench/wrk.sh

ci:
	bash .ci/run
