"""The evidence zip: one STORED member under legacy ZipCrypto, password ``infected``, as Tanium serves.

Python's ``zipfile`` reads ZipCrypto but cannot write it, and no maintained PyPI writer exists for this
machine, so this module writes it. The member is already gzip, so it is STORED. The 12-byte encryption
header is derived from the content (zips are byte-identical) and ends with the CRC's high byte, which
is what readers check the password against. No data descriptor is used: the CRC is known up front.

ZipCrypto's key schedule feeds every plaintext byte back into the keys, so it cannot be vectorized.
Measured on the 2-core reference container (Python 3.11): the pure-Python loop (CRC table, keystream
table indexed by the low 16 bits of key 2, locals only) runs at ~1.2 MB/s, which makes a 75 MB stress
trace take a minute. When ``numba`` is installed (a project dependency, optional at runtime) payloads
above :data:`ACCELERATE_ABOVE` use a JIT-compiled copy of the same loop at ~100 MB/s (first compile
~1 s per process; cached on disk where possible, then ~0.6 s to load). Small payloads stay in Python until
this process has encrypted :data:`ACCELERATE_AFTER` bytes that way; from then on numba takes them too: a
server handing out thousands of small evidence zips pays the load once instead of ~0.05 s per zip, and a
process that encrypts a little never pays it (rent until the rent reaches the price, then buy: never more
than twice the best choice in hindsight). Both paths produce identical bytes.

>>> import io, zipfile
>>> blob = build_evidence_zip("trace.cst.gz", b"hello")
>>> zipfile.ZipFile(io.BytesIO(blob)).read("trace.cst.gz", pwd=b"infected")
b'hello'
"""

from __future__ import annotations

import functools
import hashlib
import struct
import warnings
import zlib
from collections.abc import Callable
from typing import Any

from simulator.traces.spec import EVIDENCE_PASSWORD

PASSWORD = EVIDENCE_PASSWORD
ACCELERATE_ABOVE = 256 << 10  # one payload this large goes to numba at once
ACCELERATE_AFTER = 1 << 20  # ...and every payload once Python has encrypted this much (~ numba's load time)
_python_bytes = 0  # encrypted in pure Python by this process so far
_MASK = 0xFFFFFFFF
_DOS_TIME, _DOS_DATE = 0, (0 << 9) | (1 << 5) | 1  # 1980-01-01 00:00: no wall clock in the output


def _crc_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


CRC_TABLE = _crc_table()
# The keystream byte depends only on the low 16 bits of key 2: one lookup instead of arithmetic.
_KEYSTREAM = bytes(((((t | 2) * ((t | 2) ^ 1)) >> 8) & 0xFF) for t in range(65536))


def initial_keys(password: bytes = PASSWORD) -> tuple[int, int, int]:
    """The three ZipCrypto keys after the password (APPNOTE 6.1.5)."""
    k0, k1, k2 = 0x12345678, 0x23456789, 0x34567890
    crc = CRC_TABLE
    for p in password:
        k0 = (k0 >> 8) ^ crc[(k0 ^ p) & 0xFF]
        k1 = ((k1 + (k0 & 0xFF)) * 134775813 + 1) & _MASK
        k2 = (k2 >> 8) ^ crc[(k2 ^ (k1 >> 24)) & 0xFF]
    return k0, k1, k2


def encrypt_python(data: bytes, keys: tuple[int, int, int]) -> bytes:
    """ZipCrypto-encrypt ``data`` from the given key state, in pure Python (~1.2 MB/s)."""
    k0, k1, k2 = keys
    crc, ks = CRC_TABLE, _KEYSTREAM
    out = bytearray()
    append = out.append
    for p in data:
        append(p ^ ks[k2 & 0xFFFF])
        k0 = (k0 >> 8) ^ crc[(k0 ^ p) & 0xFF]
        k1 = ((k1 + (k0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        k2 = (k2 >> 8) ^ crc[(k2 ^ (k1 >> 24)) & 0xFF]
    return bytes(out)


@functools.lru_cache(maxsize=1)
def _numba_encrypt() -> Callable[[bytes, tuple[int, int, int]], bytes] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import numba
            import numpy as np
    except ImportError:
        return None

    def loop(data: Any, out: Any, crc: Any, ks: Any, k0: int, k1: int, k2: int) -> None:
        for i in range(data.shape[0]):
            p = data[i]
            out[i] = p ^ ks[k2 & 0xFFFF]
            k0 = (k0 >> 8) ^ crc[(k0 ^ p) & 0xFF]
            k1 = ((k1 + (k0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
            k2 = (k2 >> 8) ^ crc[(k2 ^ (k1 >> 24)) & 0xFF]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compiled = numba.njit(cache=True, nogil=True)(loop)
        except Exception:  # no writable cache location: compile per process instead
            compiled = numba.njit(nogil=True)(loop)
    crc = np.array(CRC_TABLE, dtype=np.int64)
    ks = np.frombuffer(_KEYSTREAM, dtype=np.uint8).astype(np.int64)

    def encrypt(data: bytes, keys: tuple[int, int, int]) -> bytes:
        src = np.frombuffer(data, dtype=np.uint8)
        out = np.empty_like(src)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compiled(src, out, crc, ks, keys[0], keys[1], keys[2])
        return bytes(out.data)

    return encrypt


def accelerated() -> bool:
    """True when the numba path is available in this process."""
    return _numba_encrypt() is not None


def encrypt(data: bytes, keys: tuple[int, int, int], *, fast: bool | None = None) -> bytes:
    """ZipCrypto-encrypt ``data``; ``fast`` None picks numba for large payloads when installed.

    >>> encrypt(b"abc", initial_keys(), fast=False) == encrypt(b"abc", initial_keys(), fast=True)
    True
    """
    global _python_bytes
    use_fast = (len(data) > ACCELERATE_ABOVE or _python_bytes >= ACCELERATE_AFTER) if fast is None else fast
    impl = _numba_encrypt() if use_fast else None
    if impl is not None:
        return impl(data, keys)
    _python_bytes += len(data)  # unlocked: a lost update only moves the switch by one payload
    return encrypt_python(data, keys)


def build_evidence_zip(member_name: str, data: bytes, *, fast: bool | None = None) -> bytes:
    """A one-member zip of ``data`` named ``member_name``, STORED, ZipCrypto with ``infected``.

    >>> blob = build_evidence_zip("trace.cst.gz", b"x" * 10)
    >>> blob[:4]
    b'PK\\x03\\x04'
    """
    if len(data) > _MASK - 12:
        raise ValueError("evidence over 4 GiB needs ZIP64, which this writer does not do")
    name = member_name.encode("utf-8")
    flags = 0x0001 | (0x0800 if not name.isascii() else 0)  # encrypted; UTF-8 names flagged
    crc = zlib.crc32(data)
    seed = hashlib.blake2b(name + struct.pack("<IQ", crc, len(data)), digest_size=11).digest()
    header = seed + bytes((crc >> 24,))
    payload = encrypt(header + data, initial_keys(), fast=fast)
    fields = struct.pack("<HHHHIII", flags, 0, _DOS_TIME, _DOS_DATE, crc, len(payload), len(data))
    local = b"PK\x03\x04" + struct.pack("<H", 20) + fields + struct.pack("<HH", len(name), 0) + name
    central = (
        b"PK\x01\x02"
        + struct.pack("<HH", 20, 20)
        + fields
        + struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, 0, 0)
        + name
    )
    offset = len(local) + len(payload)
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, len(central), offset, 0)
    return b"".join((local, payload, central, end))
