"""The ONE table of record ``type`` strings the generator writes (docs/cst-format.md lists it too).

The vendor documents only ``X509 CERTIFICATE``, ``rsa_pkcs8`` and ``pgp``; the other names are this
project's PROPOSED ones in the same two styles (PEM label style for PEM-labelled objects, detector
style otherwise). Readers compare them exactly, never case-folded.

>>> TYPES["cert"]
'X509 CERTIFICATE'
"""

from __future__ import annotations

# kind (what the generator builds) -> type string (what the trace says)
TYPES: dict[str, str] = {
    "cert": "X509 CERTIFICATE",  # PEM or DER certificate file (bundles hold many)
    "public_key": "PUBLIC KEY",  # PEM SubjectPublicKeyInfo
    "rsa_pkcs8": "rsa_pkcs8",  # unencrypted PKCS#8 RSA private key (vendor name)
    "ec_pkcs8": "ec_pkcs8",  # unencrypted PKCS#8 EC private key
    "ed25519_pkcs8": "ed25519_pkcs8",  # unencrypted PKCS#8 Ed25519 private key
    "encrypted_pkcs8": "encrypted_pkcs8",  # ENCRYPTED PRIVATE KEY: algorithm not visible
    "rsa_pkcs1": "rsa_private_key",  # PKCS#1 RSA PRIVATE KEY (maybe with a Proc-Type: ENCRYPTED header)
    "dsa_private_key": "dsa_private_key",  # OpenSSL DSA PRIVATE KEY
    "ec_private_key": "ec_private_key",  # SEC1 EC PRIVATE KEY
    "ssh_public_key": "ssh_public_key",  # one line of a *.pub or authorized_keys file
    "ssh_known_hosts": "ssh_known_hosts",  # one line of a known_hosts file
    "pgp": "pgp",  # one OpenPGP key (vendor name)
    "jks": "jks",  # one entry of a Java KeyStore
    "pkcs12": "pkcs12",  # one bag of a PKCS#12 (.p12/.pfx) file
    "sst": "sst",  # one certificate of a Microsoft serialized store (.sst)
    "pkcs7": "pkcs7",  # one certificate of a PKCS#7 bundle (.p7b)
}

# Containers whose certificate records carry details.container = {"format", "alias"}.
CONTAINER_FORMATS: dict[str, str] = {"jks": "jks", "pkcs12": "pkcs12", "sst": "sst", "pkcs7": "pkcs7"}
