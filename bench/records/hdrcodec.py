"""A pure-Python stand-in for ``pyhdrh``, the C helper of the ``hdrhistogram`` package, for free-threaded builds.

``pyhdrh`` does not declare that it can run without the GIL, so importing it (``hdrh.histogram`` does, at once)
turns the GIL back on in a free-threaded CPython for the rest of the process: every cell would then measure with the
GIL.  A cell process on such a build installs this module as ``pyhdrh`` first (:func:`install`); it writes the same
bytes (the HdrHistogram V2 counts encoding: ZigZag LEB128 varints, every run of zeros as one negative count -- the tests
compare it with the C helper byte for byte).  A cell only ever encodes; ``decode`` is left to the parent.
"""

from __future__ import annotations

import ctypes
import sys
import types
from typing import Any

_WORDS: dict[int, Any] = {2: ctypes.c_int16, 4: ctypes.c_int32, 8: ctypes.c_int64}


def _counts(address: int, length: int, word_size: int) -> Any:
    try:
        word = _WORDS[word_size]
    except KeyError:
        raise ValueError(f"word size {word_size} is not 2, 4 or 8") from None
    return (word * length).from_address(address)


def _zigzag(value: int) -> bytes:
    """HdrHistogram's ZigZag LEB128 of a 64-bit value: 7 bits a byte, the ninth byte whole."""
    n = ((value << 1) ^ (value >> 63)) & 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    for _ in range(8):
        if n < 0x80:
            out.append(n)
            return bytes(out)
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n & 0xFF)
    return bytes(out)


def encode(src_address: int, length: int, word_size: int, dst_address: int, dst_length: int) -> int:
    """Encode ``length`` counts at ``src_address`` into the buffer at ``dst_address``; the bytes written."""
    counts = _counts(src_address, length, word_size)
    out = bytearray()
    index = 0
    while index < length:
        count = counts[index]
        index += 1
        if count == 0:
            zeros = 1
            while index < length and counts[index] == 0:
                zeros += 1
                index += 1
            count = -zeros
        out += _zigzag(count)
    if len(out) > dst_length:
        raise OverflowError(f"encoded counts take {len(out)} bytes, the buffer {dst_length}")
    ctypes.memmove(dst_address, bytes(out), len(out))
    return len(out)


def add_array(dst_address: int, src_address: int, length: int, word_size: int) -> int:
    """Add the counts at ``src_address`` to those at ``dst_address``; the total added."""
    dst, src = _counts(dst_address, length, word_size), _counts(src_address, length, word_size)
    total = 0
    for i in range(length):
        if src[i]:
            dst[i] += src[i]
            total += src[i]
    return total


def decode(*_args: Any) -> Any:
    """Not provided: a cell never decodes a histogram (its parent does, with the C helper)."""
    raise NotImplementedError("decoding a histogram needs the C helper pyhdrh")


def install() -> bool:
    """Stand in for ``pyhdrh`` in this process unless it is already imported; whether this module now does."""
    if "pyhdrh" in sys.modules:
        return sys.modules["pyhdrh"].__dict__.get("encode") is encode
    module = types.ModuleType("pyhdrh", __doc__)
    module.encode, module.decode, module.add_array = encode, decode, add_array  # type: ignore[attr-defined]
    sys.modules["pyhdrh"] = module
    return True
