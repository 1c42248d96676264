# make demo   — run the demo against a throwaway local server
# make test   — the whole suite, plain and with -race
# Both install the Debian packages they need first (apt-get; sudo when not root).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(PATH):/usr/local/go/bin
export CGO_ENABLED := 1

GO     ?= go
PKGS   ?= ./...
# One test package at a time: pam_wrapper cannot have two PAM logins start
# at once on a machine (see internal/sshdtest, Options.Passwords).
TESTFLAGS ?= -count=1 -p 1 -v
COUNT  ?= 10
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# What building and the demo need from Debian, and what the tests add.
BUILD_PACKAGES  := gcc pkg-config libssh-dev
DEBIAN_PACKAGES := $(BUILD_PACKAGES) openssh-server openssh-client git \
                   libpam-wrapper libnss-wrapper krb5-kdc krb5-admin-server krb5-user
STATICCHECK     := honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHSTAT       := golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

.PHONY: help deps demo-deps demo test unit race cgocheck2 asan misuse generate check-generate lint bench benchcmp bench-link clean

help:
	@sed -n 's/^# //p' Makefile | head -3

# deps installs the missing Debian packages (apt-get update only when
# needed); the demo, whose server is in-process, needs only the build ones.
deps: PACKAGES = $(DEBIAN_PACKAGES)
demo-deps: PACKAGES = $(BUILD_PACKAGES)
deps demo-deps:
	@missing=""; \
	for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@command -v $(GO) >/dev/null || { echo "Go 1.25 or newer is needed (https://go.dev/dl)"; exit 1; }

demo: demo-deps
	$(GO) run ./examples/demo

# test runs the whole suite plainly and under the race detector (with the
# run-time lock assertions). The verbose
# output is kept in test.log and test-race.log.
test: deps unit race

unit:
	$(GO) test $(TESTFLAGS) $(PKGS) 2>&1 | tee test.log

# The race run also checks, at every libssh call, that the calling
# goroutine holds that session's lock (the lockassert build tag; see
# docs/design.md, "Checking the lock discipline").
race:
	$(GO) test $(TESTFLAGS) -race -tags lockassert $(PKGS) 2>&1 | tee test-race.log

cgocheck2: deps
	GOEXPERIMENT=cgocheck2 $(GO) test $(TESTFLAGS) $(PKGS) 2>&1 | tee test-cgocheck2.log

# libssh 0.10.6 leaks in its GSSAPI client: a plain C program that only
# connects, calls ssh_userauth_gssapi and ssh_free leaks 100 B to 20 KB per
# attempt under AddressSanitizer. So the tests that log in with GSSAPI run
# without leak detection; everything else runs with it.
ASAN_NOLEAK_TESTS := TestUserauthGSSAPI|TestNothingSentBeforeTheHostKeyIsAccepted
asan: deps
	$(GO) test $(TESTFLAGS) -asan -skip '$(ASAN_NOLEAK_TESTS)' $(PKGS) 2>&1 | tee test-asan.log
	ASAN_OPTIONS=detect_leaks=0 $(GO) test $(TESTFLAGS) -asan -run '$(ASAN_NOLEAK_TESTS)' . 2>&1 | tee -a test-asan.log

# misuse runs the randomized misuse test (misuse_random_test.go) alone,
# with MISUSE_OPS operations in each of the four modes CI uses (plain,
# -race, cgocheck2, -asan): 1,600,000 in all. On two cores a mode runs
# 13,000 to 18,000 operations a second, so each takes about half a minute.
# MISUSE_TIME bounds each mode, and LIBSSH_MISUSE_STRICT makes a mode that
# runs out of time fail instead of stopping short of its count, so the
# step does its operations or fails within about 6 minutes. MISUSE_SEED
# replays a run's choice of operations.
MISUSE_OPS  ?= 400000
MISUSE_TIME ?= 85s
MISUSE_ENV  := LIBSSH_MISUSE_STRICT=1 LIBSSH_MISUSE_OPS=$(MISUSE_OPS) LIBSSH_MISUSE_TIME=$(MISUSE_TIME) $(if $(MISUSE_SEED),LIBSSH_MISUSE_SEED=$(MISUSE_SEED))
MISUSE_RUN  := -count=1 -v -run '^TestMisuseRandom$$' -timeout 4m .
misuse: deps
	$(MISUSE_ENV) $(GO) test $(MISUSE_RUN) 2>&1 | tee test-misuse.log
	$(MISUSE_ENV) $(GO) test -race $(MISUSE_RUN) 2>&1 | tee -a test-misuse.log
	$(MISUSE_ENV) GOEXPERIMENT=cgocheck2 $(GO) test $(MISUSE_RUN) 2>&1 | tee -a test-misuse.log
	$(MISUSE_ENV) $(GO) test -asan $(MISUSE_RUN) 2>&1 | tee -a test-misuse.log

# generate rewrites lib/zfuncs.go and lib/zconst.go from the installed libssh
# headers; check-generate fails when that changes anything.
generate:
	$(GO) generate ./lib

check-generate: generate
	@git diff --exit-code -- lib || { echo "lib/ is stale: run 'make generate' and commit the result"; exit 1; }
	@test -z "$$(git status --porcelain -- lib)" || { git status --porcelain -- lib; echo "lib/ has untracked generated files"; exit 1; }

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt would change the files above"; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) vet -tags lockassert $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)
	$(GO) run ./internal/lockcheck .

# bench runs the benchmarks COUNT times into bench.txt; benchcmp compares it
# with bench.old.txt. The channel benchmarks also time bench/cbench.c, the
# same work in plain C against libssh (sub-benchmarks "go" and "c").
CBENCH := bin/cbench
$(CBENCH): bench/cbench.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -o $@ $< $$(pkg-config --cflags --libs libssh)

bench: deps $(CBENCH)
	GOLIBSSH_CBENCH=$(abspath $(CBENCH)) $(GO) test -run '^$$' -bench . -benchmem -count $(COUNT) $(PKGS) | tee bench.txt
	$(GO) run $(BENCHSTAT) -filter '/impl:(go OR c)' -col /impl bench.txt

benchcmp:
	$(GO) run $(BENCHSTAT) bench.old.txt bench.txt

# bench-link compares downloads, uploads and 50 downloads at once (with the
# clients' peak memory) of this package, OpenSSH's ssh and bench/cbench.c,
# and SFTP gets and puts of package sftp and OpenSSH's sftp, over loopback
# and links of 10 and 50 ms round-trip
# time (bench/link, bench/internal/delayrelay) in one interleaved run, into
# bench-link.txt; LINKFLAGS passes flags (go run ./bench/link -h).
bench-link: deps $(CBENCH)
	GOLIBSSH_CBENCH=$(abspath $(CBENCH)) $(GO) run ./bench/link $(LINKFLAGS) | tee bench-link.txt

clean:
	rm -f test*.log bench.txt bench-link.txt
	rm -rf bin
