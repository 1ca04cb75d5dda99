# prunebench — build, run the main job, test, benchmark.
GO       ?= go
BIN      := bin/prunebench
# The shared data folder beside the checkout is the default data directory.
PRUNEBENCH_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
export PRUNEBENCH_DATA
# OpenBLAS backend when its headers and library link; pure Go otherwise.
TAGS     ?= $(shell printf '\043include <cblas.h>\nint main(void){cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasNoTrans,1,1,1,1,0,1,0,1,0,0,1);return 0;}\n' | $${CC:-cc} -x c - -lopenblas -o /dev/null 2>/dev/null && echo openblas)
GOFLAGS_TAGS := $(if $(TAGS),-tags $(TAGS),)

.PHONY: build run test test-slurm smoke smoke-baseline quickstart-reference bench bench-prune fuzz vet clean

# -buildvcs=auto stamps the VCS revision that every record's provenance
# carries (a go env of -buildvcs=false would leave it out).
build:
	$(GO) build -buildvcs=auto $(GOFLAGS_TAGS) -o $(BIN) ./cmd/prunebench
	@echo "built $(BIN) (BLAS backend: $(if $(TAGS),openblas,pure Go))" >&2

# The main job: the quickstart experiment (every method at every sparsity
# on stories260K) and its table, then how its numbers compare with the
# reference results/quickstart.jsonl. Finished runs are kept in
# out/quickstart.jsonl (the config's output); a second `make run` reuses
# them, so delete the file for a fresh run. CONFIG picks another config.
# Without a data directory, the quickstart's files are fetched first into
# ~/.cache/prunebench (prunebench data fetch; checked against their sha256).
CONFIG ?= configs/quickstart.yaml
run: build
	$(if $(PRUNEBENCH_DATA),,$(BIN) data fetch stories260K wikitext-2)
	$(BIN) run $(CONFIG)
	@if [ "$(CONFIG)" = configs/quickstart.yaml ]; then \
		echo "compared with the reference results/quickstart.jsonl:"; \
		$(BIN) compare results/quickstart.jsonl out/quickstart.jsonl --tolerance 1% || \
			echo "(numbers differ from the reference beyond 1%: see above)"; \
	fi

vet:
	$(GO) vet ./...
	$(if $(TAGS),$(GO) vet $(GOFLAGS_TAGS) ./...,)
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting" >&2; exit 1; }

test: vet build
	$(GO) test $(GOFLAGS_TAGS) -count=1 ./...
	$(if $(TAGS),$(GO) test -count=1 ./linalg/... ./model/...,)
	$(MAKE) --no-print-directory smoke

# The sweep on a real one-node Slurm alone (about a minute; make test runs
# it too): needs root and Debian's slurm-wlm and munge (.ci/run installs
# them), else it is skipped, or fails when CI is set.
test-slurm:
	$(GO) test $(GOFLAGS_TAGS) -count=1 -run '^TestSlurmSweep$$' -v ./cmd/prunebench

# The smoke experiment from scratch, compared with its committed baseline:
# a change that worsens a number beyond SMOKE_TOLERANCE fails.
SMOKE_TOLERANCE ?= 1%
smoke: build
	@out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && \
	$(BIN) run configs/smoke.yaml --out "$$out/smoke.jsonl" && \
	$(BIN) compare results/smoke.jsonl "$$out/smoke.jsonl" --tolerance $(SMOKE_TOLERANCE)

# Rewrites the smoke baseline: only after a change meant to move numbers.
smoke-baseline: build
	rm -f results/smoke.jsonl
	$(BIN) run configs/smoke.yaml --out results/smoke.jsonl

# Rewrites the quickstart reference (about 12 minutes).
quickstart-reference: build
	rm -f results/quickstart.jsonl
	$(BIN) run configs/quickstart.yaml --out results/quickstart.jsonl

# Forward throughput next to same-shape sgemm (shape: PRUNEBENCH_BENCH_* variables).
bench:
	$(GO) test $(GOFLAGS_TAGS) -run='^$$' -bench=. -benchtime=$${BENCHTIME:-3x} ./linalg/... ./model/... ./tokenizer/...

# Seconds per LLaMA-7B-shaped layer for each method on the same statistics (slow, ~4 GB).
bench-prune:
	$(GO) test $(GOFLAGS_TAGS) -run='^$$' -bench=Layer7B -benchtime=1x -timeout=2h ./runners/...

# Every fuzz target of FUZZPKGS for FUZZTIME each, one worker (-parallel
# FUZZPAR), under a 4 GB address-space limit so that a parser that sizes an
# allocation from its input fails here instead of passing on a big machine.
FUZZPKGS ?= ./...
FUZZPAR  ?= 1
FUZZ_AS  ?= 4294967296
fuzz:
	@for p in $$($(GO) list $(FUZZPKGS)); do \
		for f in $$($(GO) test -list='^Fuzz' $$p | grep '^Fuzz'); do \
			echo "fuzz: $$p $$f for $${FUZZTIME:-15s}" >&2; \
			prlimit --as=$(FUZZ_AS) -- $(GO) test -run='^$$' -fuzz="^$$f\$$" -fuzztime=$${FUZZTIME:-15s} -timeout=0 -parallel=$(FUZZPAR) $$p || exit 1; \
		done; \
	done

clean:
	rm -rf bin
