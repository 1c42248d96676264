#!/bin/sh
# gen.sh regenerates the throwaway SSH keys in this directory.
#
# These keys are for tests only: they are committed to the repository, their
# private halves are public knowledge, and they must never be used anywhere
# else. Tests never run this script; run it by hand from any directory if the
# keys ever need to be replaced:
#
#   sh testdata/keys/gen.sh
#
# Files produced (each private key has a matching .pub):
#   id_ed25519      ed25519, OpenSSH format, no passphrase
#   id_ecdsa        ecdsa P-256, OpenSSH format, no passphrase
#   id_rsa          rsa 3072, OpenSSH format, no passphrase
#   id_ed25519_enc  ed25519, OpenSSH format, passphrase below
#   id_rsa_pem_enc  rsa 2048, legacy PEM format (ssh-keygen -m PEM), passphrase below
#   other_ed25519   ed25519, no passphrase, deliberately NOT in any
#                   authorized_keys (for negative authentication tests)
#
# Requires OpenSSH's ssh-keygen.
set -eu

cd "$(dirname "$0")"

PASSPHRASE='correct horse battery staple'
COMMENT='golibssh-test'

gen() {
	# gen FILE PASSPHRASE ssh-keygen-args...
	file=$1
	pass=$2
	shift 2
	rm -f "$file" "$file.pub"
	ssh-keygen -q -C "$COMMENT" -N "$pass" -f "$file" "$@"
	chmod 0600 "$file"
	chmod 0644 "$file.pub"
}

gen id_ed25519 '' -t ed25519
gen id_ecdsa '' -t ecdsa -b 256
gen id_rsa '' -t rsa -b 3072
gen id_ed25519_enc "$PASSPHRASE" -t ed25519
gen id_rsa_pem_enc "$PASSPHRASE" -t rsa -b 2048 -m PEM
gen other_ed25519 '' -t ed25519
