#!/usr/bin/env bash
# Regenerates the test PKI (committed, valid for 100 years): a CA, a server certificate for 127.0.0.1, and client
# certificates whose keys are in each PEM form ConsulTls reads: PKCS#8, PKCS#1 RSA, SEC1 EC.
# Test material only: never use these keys for anything else.
set -euo pipefail
cd "$(dirname "$0")"
days=36500
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days $days -subj "/CN=Roster Test CA" 2>/dev/null
other() { openssl req -x509 -newkey rsa:2048 -nodes -keyout /dev/null -out other-ca.pem -days $days -subj "/CN=Other CA" 2>/dev/null; }
other
sign() { # name subject key-file ext
  openssl req -new -key "$3" -out "$1.csr" -subj "$2" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out "$1.pem" -days $days \
    -extfile <(printf '%s' "$4") 2>/dev/null
  rm -f "$1.csr"
}
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out server-key.pem 2>/dev/null
sign server "/CN=127.0.0.1" server-key.pem "subjectAltName=IP:127.0.0.1,DNS:localhost"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out client-rsa-pkcs8-key.pem 2>/dev/null
openssl rsa -in client-rsa-pkcs8-key.pem -traditional -out client-rsa-pkcs1-key.pem 2>/dev/null
sign client-rsa "/CN=client-rsa" client-rsa-pkcs8-key.pem "extendedKeyUsage=clientAuth"
openssl ecparam -name prime256v1 -genkey -noout -out client-ec-sec1-key.pem
sign client-ec "/CN=client-ec" client-ec-sec1-key.pem "extendedKeyUsage=clientAuth"
rm -f ca-key.pem ca.srl
