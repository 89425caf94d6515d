#!/usr/bin/env bash
# Builds the example PKI in certs-example/ through the `ca` CLI: a root, an intermediate, two services and a
# revoked third one with its CRL. Everything here is an EXAMPLE: never use these keys for anything real.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ca() { node "$here/../dist/cmd/ca.js" "$@"; }
td=example.meshca.internal

rm -rf "$here/ca" "$here/services" "$here/crl"
mkdir -p "$here/services" "$here/crl"
# Long-lived on purpose so the committed example keeps working; real services use the 24h default.
ca init --dir "$here/ca" --name "meshca example" --trust-domain "$td" --default-ttl 300d --max-ttl 300d
# ...and so are its CRLs (config.json is the operator's to edit; the default is 24h).
node -e 'const f=process.argv[1];const c=JSON.parse(require("fs").readFileSync(f));c.crlValidity="300d";require("fs").writeFileSync(f,JSON.stringify(c,null,2)+"\n")' "$here/ca/config.json"

issue() {
  local name=$1; shift
  ca issue "$name" --dir "$here/ca" "$@" --cert-out "$here/services/$name.pem" --key-out "$here/services/$name.key" --json
  local tmp; tmp=$(mktemp)
  { echo "EXAMPLE KEY from meshca certs-example: public in the meshca repository, never use it for anything real."; cat "$here/services/$name.key"; } > "$tmp"
  mv "$tmp" "$here/services/$name.key"
  chmod 600 "$here/services/$name.key"
}

issue frontend --spiffe-id "spiffe://$td/ns/demo/frontend" --dns frontend.example.meshca.internal --dns localhost --ip 127.0.0.1
issue backend --spiffe-id "spiffe://$td/ns/demo/backend" --dns backend.example.meshca.internal --dns localhost --ip 127.0.0.1
retired=$(issue retired --spiffe-id "spiffe://$td/ns/demo/retired" --dns retired.example.meshca.internal --dns localhost --ip 127.0.0.1 | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).serial))')
ca revoke "$retired" --dir "$here/ca" --reason cessationOfOperation

ca crl --dir "$here/ca" --out "$here/crl/intermediate.crl"
ca crl --dir "$here/ca" --out "$here/crl/all.crl.pem" --pem
cat "$here/ca/root.pem" "$here/ca/intermediate.pem" > "$here/ca/bundle.pem"
cat "$here/ca/bundle.pem" "$here/crl/all.crl.pem" > "$here/ca/bundle-with-crls.pem"
echo "example PKI written to $here"
