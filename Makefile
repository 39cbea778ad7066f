# Kettle: attested, hermetic Nix builds.
#
#   make demo    install what is missing, build the example flake, verify its bundle
#   make test    every test (unit, fuzz seeds, end-to-end with the real nix)
#   make bench   Go benchmarks and the comparison against Nix's own tools
#   make fuzz    every fuzz target for FUZZTIME each (default 10s)
#
# Nix runs with Kettle's own offline settings (nix/offline.conf) through
# NIX_USER_CONF_FILES: the user's nix.conf files are not edited.

GO      ?= go
KETTLE  := $(CURDIR)/bin/kettle
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
export NIX_USER_CONF_FILES := $(CURDIR)/nix/offline.conf

# The launch measurement the simulated SEV-SNP backend reports in the demo, and
# which the verifier is told to expect (48 bytes, hex).
DEMO_MEASUREMENT := $(shell printf 'kettle demo image' | sha384sum | cut -d' ' -f1)
DEMO_NONCE       := $(shell printf 'kettle demo nonce' | sha256sum | cut -d' ' -f1)
DEMO_BUNDLE      := $(CURDIR)/.kettle/hello.bundle

# make fuzz runs each fuzz target for FUZZTIME; minimising a failing or
# new input is bounded by FUZZMINIMIZETIME, so that a long input cannot
# stall a run (go test's default is 60s per input).
FUZZTIME         ?= 10s
FUZZMINIMIZETIME ?= 5s

.PHONY: all deps kettle demo test fuzz bench lint clean

all: kettle

# Debian packages the demo and the tests need (nix-bin 2.8, a static busybox,
# swtpm for the vTPM tests).
deps:
	@missing=""; \
	command -v nix >/dev/null 2>&1 || missing="$$missing nix-bin"; \
	[ -x /bin/busybox ] || missing="$$missing busybox-static"; \
	command -v swtpm >/dev/null 2>&1 || missing="$$missing swtpm swtpm-tools"; \
	command -v qemu-system-x86_64 >/dev/null 2>&1 || missing="$$missing qemu-system-x86"; \
	[ -e /usr/share/ovmf/OVMF.fd ] || missing="$$missing ovmf"; \
	ls /boot/vmlinuz-*[0-9]-amd64 >/dev/null 2>&1 || missing="$$missing linux-image-amd64"; \
	command -v pesign >/dev/null 2>&1 || missing="$$missing pesign"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v diffoscope >/dev/null 2>&1 || missing="$$missing diffoscope-minimal"; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "installing$$missing"; \
	  $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@getent group nixbld >/dev/null || { echo "the nixbld group is missing (nix-bin creates it)"; exit 1; }

kettle:
	$(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(KETTLE) ./cmd/kettle

demo: deps kettle
	@rm -rf $(DEMO_BUNDLE)
	@mkdir -p $(dir $(DEMO_BUNDLE))
	$(KETTLE) build --attest sim-snp --sim-measurement $(DEMO_MEASUREMENT) --nonce $(DEMO_NONCE) \
	  -o $(DEMO_BUNDLE) path:$(CURDIR)/examples/hello
	@echo
	$(KETTLE) verify --allow-simulated --measurement $(DEMO_MEASUREMENT) --nonce $(DEMO_NONCE) $(DEMO_BUNDLE)

test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 25m ./...

# The targets are found with go test -list in every package that has tests.
fuzz:
	@set -e; \
	for pkg in $$($(GO) list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $$pkg; \
	  done; \
	done

bench: deps kettle
	$(GO) test -run '^$$' -bench . -benchtime 3x ./nixinputs/ ./provenance/...
	./bench/compare.sh

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.6.1 ./...

clean:
	rm -rf bin .kettle
