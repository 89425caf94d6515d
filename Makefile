# meshca: every set-up step lives here, so `make run` and `make test` work on a fresh clone with Node 20, npm and make.

SHELL := /bin/bash
NPM ?= npm
INSTALLED := node_modules/.meshca-installed
BUILT := dist/.meshca-built
SOURCES := $(shell find cmd src -type f \( -name '*.ts' -o -name '*.sql' -o -path 'src/ui/*' \) 2>/dev/null) tsconfig.json
CA_DIR ?= ca-data
# make run's ports: apart from the quick start's 8443/8080, so both can run at once (make run HTTPS_PORT=… HTTP_PORT=…).
HTTPS_PORT ?= 9443
HTTP_PORT ?= 9080
CA := node dist/cmd/ca.js

.PHONY: all install build test run certs-example example bench soak clean tools bench-tools

all: build

# npm 11 skips dependency install scripts unless approved: package.json's allowScripts approves better-sqlite3,
# and the check below rebuilds it if its native module is still missing for any reason.
$(INSTALLED): package.json package-lock.json
	$(NPM) ci --no-audit --no-fund
	node -e "new (require('better-sqlite3'))(':memory:').close()" 2>/dev/null || $(NPM) rebuild better-sqlite3
	node -e "new (require('better-sqlite3'))(':memory:').close()"
	touch $@

install: $(INSTALLED)

$(BUILT): $(INSTALLED) $(SOURCES)
	npm run --silent build
	chmod +x dist/cmd/ca.js
	touch $@

build: $(BUILT)

# Foreign tools and servers the tests run, from Debian's packages when missing: openssl, curl, GnuTLS, nginx and
# HAProxy as relying parties and load balancer, certbot and lego as ACME clients, chromium for the dashboard, and PostgreSQL (the tests start a throwaway server of their own:
# initdb in a temporary folder, never the one the package may start).
tools:
	@command -v openssl >/dev/null && command -v curl >/dev/null && command -v ocsptool >/dev/null && command -v nginx >/dev/null && command -v haproxy >/dev/null && command -v certbot >/dev/null && command -v lego >/dev/null && command -v chromium >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq openssl curl gnutls-bin nginx-light haproxy postgresql certbot lego chromium; }

test: $(BUILT) tools
	npx vitest run

# Create a dev CA in ./ca-data when absent, say how to get a first certificate, and run the service in the foreground.
run: $(BUILT)
	@if [ ! -f $(CA_DIR)/config.json ]; then \
	  $(CA) init --dir $(CA_DIR) --name "meshca dev" --trust-domain dev.meshca.internal --public-url http://127.0.0.1:$(HTTP_PORT); \
	else echo "using the existing dev CA in $(CA_DIR)"; fi
	@echo
	@echo "meshca is starting: API https://127.0.0.1:$(HTTPS_PORT), public http://127.0.0.1:$(HTTP_PORT) (Ctrl-C stops it)."
	@echo "Get a first certificate from another terminal, in $(CURDIR):"
	@echo '  export MESHCA_TOKEN=$$($(CA) token demo --dir $(CA_DIR) --spiffe-id spiffe://dev.meshca.internal/demo --dns demo.dev.meshca.internal)'
	@echo '  $(CA) issue demo --ca-url https://127.0.0.1:$(HTTPS_PORT) --ca-bundle $(CA_DIR)/root.pem --cert-out demo.pem --key-out demo.key'
	@echo '  unset MESHCA_TOKEN'
	@echo '  $(CA) renew --ca-url https://127.0.0.1:$(HTTPS_PORT) --ca-bundle $(CA_DIR)/root.pem --cert demo.pem --key demo.key --daemon'
	@echo
	$(CA) serve --dir $(CA_DIR) --listen 127.0.0.1:$(HTTPS_PORT) --http-listen 127.0.0.1:$(HTTP_PORT)

certs-example: $(BUILT)
	bash certs-example/make.sh

# Benchmarks (never part of make test): each scenario bounded in time, peers measured in the same run.
bench-tools:
	@command -v openssl >/dev/null && command -v cfssl >/dev/null && command -v pebble >/dev/null || { apt-get update -qq && apt-get install -y -qq openssl golang-cfssl pebble; }

bench: $(BUILT) tools bench-tools
	node bench/run.mjs

# The full reliability run (never part of make test): 25 SIGKILLs under load (one service on SQLite, and replicas on
# PostgreSQL), 1,000 fuzz cases per parser, the authorization matrix, a database outage, then SOAK_SECONDS (default
# 600) of fixed-rate load; writes RELIABILITY.md.
SOAK_FIGURES := $(CURDIR)/.soak-figures.jsonl
soak: $(BUILT) tools
	rm -f $(SOAK_FIGURES)
	MESHCA_CRASH_KILLS=25 MESHCA_REPLICA_KILLS=25 MESHCA_FUZZ_RUNS=1000 MESHCA_FIGURES=$(SOAK_FIGURES) npx vitest run test/reliability
	MESHCA_FIGURES=$(SOAK_FIGURES) node test/soak/soak.mjs
	node test/soak/report.mjs $(SOAK_FIGURES) > RELIABILITY.md
	@echo "wrote RELIABILITY.md"

# Two services calling each other through meshca/tls with the example PKI.
example: $(BUILT)
	node examples/two-services.mjs

clean:
	rm -rf dist
