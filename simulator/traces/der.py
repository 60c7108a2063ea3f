"""The few DER bits the certificate builder needs and ``cryptography`` will not do for us.

``cryptography`` refuses SHA-1 and MD5 certificate signatures, yet traces need such certificates.
The builder signs with SHA-256; :func:`resign_rsa` swaps the AlgorithmIdentifier inside the TBS for
the weak one (the same length, so no length fields change), signs the new TBS with RSA PKCS#1 v1.5
and the weak hash at the low level (still allowed there), and assembles the Certificate by hand.

>>> length(5), length(300)
(b'\\x05', b'\\x82\\x01,')
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_RSA_PREFIX = bytes.fromhex("300d06092a864886f70d0101")  # SEQUENCE { OID 1.2.840.113549.1.1.x
_RSA_SIG_OIDS = {"md5": 0x04, "sha1": 0x05, "sha256": 0x0B, "sha384": 0x0C, "sha512": 0x0D}
_WEAK_HASHES: dict[str, hashes.HashAlgorithm] = {"md5": hashes.MD5(), "sha1": hashes.SHA1()}


def length(n: int) -> bytes:
    """A DER length field."""
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, content: bytes) -> bytes:
    """One DER element: tag, length, content."""
    return bytes((tag,)) + length(len(content)) + content


def read_header(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the element at ``offset`` (single-byte tags only)."""
    tag = data[offset]
    first = data[offset + 1]
    if first < 0x80:
        return tag, offset + 2, offset + 2 + first
    count = first & 0x7F
    size = int.from_bytes(data[offset + 2 : offset + 2 + count], "big")
    start = offset + 2 + count
    return tag, start, start + size


def rsa_algorithm_identifier(hash_name: str) -> bytes:
    """AlgorithmIdentifier DER for ``<hash>WithRSAEncryption`` (NULL parameters)."""
    return _RSA_PREFIX + bytes((_RSA_SIG_OIDS[hash_name], 0x05, 0x00))


def resign_rsa(tbs: bytes, key: rsa.RSAPrivateKey, hash_name: str) -> tuple[bytes, bytes]:
    """Re-sign a TBSCertificate built for sha256WithRSAEncryption with a weak hash.

    Returns (certificate DER, signature).

    >>> # cert_der, sig = resign_rsa(cert.tbs_certificate_bytes, issuer_key, "sha1")
    """
    _, start, _ = read_header(tbs, 0)
    pos = start
    tag, _, end = read_header(tbs, pos)
    if tag == 0xA0:  # explicit version
        pos = end
        tag, _, end = read_header(tbs, pos)
    if tag != 0x02:
        raise ValueError("TBSCertificate without a serial number")
    pos = end  # now at the `signature` AlgorithmIdentifier
    old = rsa_algorithm_identifier("sha256")
    if tbs[pos : pos + len(old)] != old:
        raise ValueError("TBSCertificate is not signed with sha256WithRSAEncryption")
    new = rsa_algorithm_identifier(hash_name)
    new_tbs = tbs[:pos] + new + tbs[pos + len(old) :]
    signature = key.sign(new_tbs, padding.PKCS1v15(), _WEAK_HASHES[hash_name])
    cert = tlv(0x30, new_tbs + new + tlv(0x03, b"\x00" + signature))
    return cert, signature
