#!/usr/bin/env bash
# Creates a throwaway PKI for the TLS tests in OUTDIR (Debian's openssl, EC P-256, 1 day):
#   ca.crt/ca.key               the test CA (arbiterd's tls.client_ca_file, the clients' --tls-ca)
#   server.crt/.key             arbiterd, SAN DNS:localhost, IP:127.0.0.1
#   server2.crt/.key            a second server certificate (CN arbiterd-rotated) for rotation
#   governance, sales, marketing, trino, unmapped   clients with a SPIFFE URI SAN under
#                               spiffe://mesh.example/ns/<name>/sa/test (unmapped: other.example)
#   dnsonly                     a client with only a DNS SAN (ci.example.com)
#   cnonly                      a client with only a subject CN (legacy-client)
#   rogue                       a client with the governance SPIFFE ID signed by another CA
set -euo pipefail
out=${1:?usage: make_test_pki.sh OUTDIR}
mkdir -p "$out"
cd "$out"
key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1.key" 2>/dev/null; chmod 600 "$1.key"; }
sign() {  # name subject extensions-file-content [ca]
  local name=$1 subj=$2 ext=$3 ca=${4:-ca}
  key "$name"
  openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial \
    -days 1 -sha256 -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}
for ca in ca otherca; do
  key "$ca"
  openssl req -x509 -new -key "$ca.key" -subj "/CN=arbiter test $ca" -days 1 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$ca.crt" 2>/dev/null
done
server_ext='basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1'
sign server "/CN=arbiterd" "$server_ext"
sign server2 "/CN=arbiterd-rotated" "$server_ext"
client_ext() {
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n%s' "$1"
}
for who in governance sales marketing trino; do
  sign "$who" "/CN=$who-client" "$(client_ext "subjectAltName=URI:spiffe://mesh.example/ns/$who/sa/test")"
done
sign unmapped "/CN=unmapped-client" "$(client_ext 'subjectAltName=URI:spiffe://other.example/ns/x/sa/test')"
sign dnsonly "/CN=ignored-cn" "$(client_ext 'subjectAltName=DNS:ci.example.com')"
sign cnonly "/CN=legacy-client" "$(client_ext '')"
sign rogue "/CN=rogue" "$(client_ext 'subjectAltName=URI:spiffe://mesh.example/ns/governance/sa/test')" otherca
rm -f ./*.srl
