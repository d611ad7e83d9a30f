#!/usr/bin/env bash
# Makes the client-certificate test files: a CA (client_ca.pem), a client
# certificate it signed (client_cert.pem), one it signed that expired in
# 2021 (client_expired_cert.pem), and one from another CA
# (client_other_cert.pem), each with its key. Valid ones last 100 years.
# Run from tests/testdata: bash make_client_certs.sh
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
ca() { # certificate file, key file, subject
  openssl req -x509 "${ec[@]}" -keyout "$2" -out "$1" -days 36500 \
    -subj "$3" 2>/dev/null
}
ca client_ca.pem "$work/client_ca.key" "/CN=Merhaba Test Client CA"
ca "$work/other_ca.pem" "$work/other_ca.key" "/CN=Merhaba Other CA"
cat > "$work/ca.cnf" <<CNF
[ca]
default_ca = d
[d]
database = $work/index.txt
serial = $work/serial
new_certs_dir = $work
default_md = sha256
unique_subject = no
policy = p
copy_extensions = copy
[p]
commonName = supplied
organizationName = optional
CNF
touch "$work/index.txt"
echo 1001 > "$work/serial"
leaf() { # name, CA cert, CA key, validity flags...
  local name=$1 cert=$2 key=$3
  shift 3
  openssl req -new "${ec[@]}" -keyout "${name}_key.pem" -out "$work/$name.csr" \
    -subj "/CN=client.example/O=Merhaba Tests" \
    -addext "subjectAltName=DNS:client.example,URI:spiffe://example.org/client" \
    -addext "extendedKeyUsage=clientAuth" 2>/dev/null
  openssl ca -batch -notext -config "$work/ca.cnf" -cert "$cert" -keyfile "$key" \
    -in "$work/$name.csr" -out "${name}_cert.pem" "$@" 2>/dev/null
}
leaf client client_ca.pem "$work/client_ca.key" -days 36500
leaf client_expired client_ca.pem "$work/client_ca.key" \
  -startdate 20200101000000Z -enddate 20210101000000Z
leaf client_other "$work/other_ca.pem" "$work/other_ca.key" -days 36500
