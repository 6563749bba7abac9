"""Request bodies sent with ``Content-Encoding``: gzip is decompressed within a limit, anything else refused.

Analytics SDKs commonly gzip their batches. The decompressed size is what costs memory and parsing
time, so the limit applies to it: :func:`gunzip` inflates incrementally (``zlib.decompressobj`` with
``max_length``) and stops as soon as the output would pass the limit, so a zip bomb (a few KB that
inflate to gigabytes) costs at most the limit in memory and never more, and is answered 413.
"""

from __future__ import annotations

import zlib

#: The content codings a client may send (RFC 9110 §8.4.1); ``x-gzip`` is the old name of gzip.
GZIP = "gzip"
IDENTITY = "identity"
_ALIASES = {"x-gzip": GZIP}
#: For the ``Accept-Encoding`` response header of a 415 (RFC 9110 §15.5.16) and error messages.
SUPPORTED = f"{GZIP}, {IDENTITY}"
#: Output produced per ``decompress`` call; bounds the memory of one step.
_STEP_BYTES = 64 * 1024


class UnsupportedCoding(ValueError):
    """A content coding other than gzip (or more than one layer of it); answered 415."""


class CorruptBody(ValueError):
    """The body is not a complete, valid gzip stream; answered 400."""


class DecompressedTooLarge(ValueError):
    """The body inflates to more than the limit; answered 413."""


def content_coding(header: bytes | None) -> str | None:
    """The coding of a ``Content-Encoding`` header: ``"gzip"``, or None when the body is not encoded.

    ``identity`` (no coding) may be listed and is ignored. Raises ``UnsupportedCoding`` naming what was sent.
    """
    if header is None:
        return None
    text = header.decode("latin-1")
    codings = [_ALIASES.get(name, name) for name in (part.strip().lower() for part in text.split(",")) if name]
    codings = [coding for coding in codings if coding != IDENTITY]
    if not codings:
        return None
    if codings == [GZIP]:
        return GZIP
    unsupported = [coding for coding in codings if coding != GZIP]
    if unsupported:
        raise UnsupportedCoding(
            f"Content-Encoding {', '.join(unsupported)} is not supported; send the body uncompressed or "
            f"with Content-Encoding: gzip"
        )
    raise UnsupportedCoding(
        f"Content-Encoding {text.strip()} applies gzip {len(codings)} times; compress the body with gzip once"
    )


def gunzip(body: bytes, limit: int) -> bytes:
    """The decompressed ``body``, a gzip stream of one or more members, of at most ``limit`` bytes.

    Raises ``DecompressedTooLarge`` as soon as the output passes ``limit`` (never inflating more than
    ``limit`` + one step), and ``CorruptBody`` when the body is not a complete gzip stream.
    """
    output = bytearray()
    remaining = body
    while True:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip header and trailer only
        pending = remaining
        try:
            while not inflater.eof:
                chunk = inflater.decompress(pending, min(_STEP_BYTES, limit + 1 - len(output)))
                output += chunk
                if len(output) > limit:
                    raise DecompressedTooLarge(
                        f"the body decompresses to more than {limit} bytes, the limit; send fewer events per request"
                    )
                pending = inflater.unconsumed_tail
                if not chunk and not pending:
                    break  # the input ended before the stream did
        except zlib.error as error:
            raise CorruptBody(_corrupt(f"{error}")) from None
        if not inflater.eof:
            raise CorruptBody(_corrupt("it is truncated: the data ends before the end of the gzip stream"))
        remaining = inflater.unused_data
        if not remaining:
            return bytes(output)
        # Another gzip member may follow (RFC 1952 §2.2); anything else fails in the next round.


def _corrupt(reason: str) -> str:
    return (
        f"the body is declared Content-Encoding: gzip but is not a valid gzip stream ({reason}); "
        "compress the whole body with gzip, or send it uncompressed without that header"
    )
