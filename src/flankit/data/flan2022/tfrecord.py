"""TFRecord files and `tf.train.Example` protos, read in plain Python (no TensorFlow).

A TFRecord file is a sequence of records, each framed as
``uint64 length (little endian) | uint32 masked CRC32C(length) | payload | uint32 masked
CRC32C(payload)``. Both checksums are verified; a bad one or a cut record is a `FlankitError`
naming the file and the record number (0-based). The payload of P3's files is a serialized
`tf.train.Example`, decoded here by a minimal protobuf reader that knows only that schema.

Example:
    >>> frame = encode_record(b"hello")
    >>> len(frame), masked_crc32c(b"hello") == int.from_bytes(frame[-4:], "little")
    (21, True)
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

from flankit.errors import FlankitError

_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected


def _table() -> list[int]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _table()


def crc32c(data: bytes) -> int:
    """CRC-32C of `data`.

    Example:
        >>> hex(crc32c(b"123456789"))
        '0xe3069283'
    """
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The CRC TFRecord stores: rotated right by 15 bits plus a constant, so that a CRC of
    data that itself holds CRCs does not degenerate."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def encode_record(payload: bytes) -> bytes:
    """One framed record (used to write files in tests and fixtures)."""
    length = struct.pack("<Q", len(payload))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + payload
        + struct.pack("<I", masked_crc32c(payload))
    )


def read_records(path: str | Path, *, verify: bool = True) -> Iterator[bytes]:
    """The payloads of a TFRecord file, in order. `verify=False` skips the payload CRC (the
    length CRC is always checked: a wrong length would misframe everything after it)."""
    name = str(path)
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise FlankitError(f"cannot read TFRecord file: {exc.strerror}", file=name) from exc
    with handle:
        index = 0
        while True:
            header = handle.read(12)
            if not header:
                return
            where = f"record {index}"
            if len(header) < 12:
                raise FlankitError(
                    f"{where}: truncated header ({len(header)} of 12 bytes)", file=name
                )
            length_bytes, length_crc = header[:8], struct.unpack("<I", header[8:])[0]
            if masked_crc32c(length_bytes) != length_crc:
                raise FlankitError(f"{where}: length CRC mismatch (corrupt file)", file=name)
            (length,) = struct.unpack("<Q", length_bytes)
            payload = handle.read(length)
            footer = handle.read(4)
            if len(payload) < length or len(footer) < 4:
                raise FlankitError(
                    f"{where}: truncated payload (expected {length} bytes)", file=name
                )
            if verify and masked_crc32c(payload) != struct.unpack("<I", footer)[0]:
                raise FlankitError(f"{where}: payload CRC mismatch (corrupt file)", file=name)
            yield payload
            index += 1


# --- minimal protobuf wire-format decoding for tf.train.Example -----------------------------

Feature = list[bytes] | list[float] | list[int]


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("varint runs past the end of the message")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _fields(buf: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """(field number, wire type, value) for each field of one message; length-delimited values
    come back as bytes, varints and fixed-width values as ints (fixed ones as raw bytes)."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ValueError(f"field {number} runs past the end of the message")
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        else:
            raise ValueError(f"unsupported wire type {wire} in field {number}")
        if pos > len(buf):
            raise ValueError(f"field {number} runs past the end of the message")
        yield number, wire, value


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _decode_list(kind: int, buf: bytes) -> Feature:
    """BytesList (1), FloatList (2) or Int64List (3); numeric lists may be packed or not."""
    out: list = []
    for number, wire, value in _fields(buf):
        if number != 1:
            continue
        if kind == 1:
            out.append(bytes(value))
        elif kind == 2:
            if wire == 2:  # packed
                out.extend(struct.unpack(f"<{len(value) // 4}f", value))
            else:
                out.append(struct.unpack("<f", value)[0])
        elif wire == 2:  # packed int64
            pos = 0
            while pos < len(value):
                item, pos = _varint(value, pos)
                out.append(_signed64(item))
        else:
            out.append(_signed64(value))
    return out


def _decode_feature(buf: bytes) -> Feature:
    for number, _wire, value in _fields(buf):
        if number in (1, 2, 3):
            return _decode_list(number, value)
    return []


def parse_example(payload: bytes) -> dict[str, Feature]:
    """The feature map of a serialized `tf.train.Example`: name -> list of bytes/floats/ints.
    Raises `ValueError` on a malformed message (callers add the file and record)."""
    features: dict[str, Feature] = {}
    for number, _wire, value in _fields(payload):
        if number != 1:  # Example.features
            continue
        for entry_number, _w, entry in _fields(value):
            if entry_number != 1:  # Features.feature (map entry)
                continue
            key, feature = "", b""
            for part_number, _pw, part in _fields(entry):
                if part_number == 1:
                    key = bytes(part).decode("utf-8")
                elif part_number == 2:
                    feature = part
            features[key] = _decode_feature(feature)
    return features


def read_examples(path: str | Path, *, verify: bool = True) -> Iterator[dict[str, Feature]]:
    """The decoded `tf.train.Example`s of a TFRecord file."""
    for index, payload in enumerate(read_records(path, verify=verify)):
        try:
            yield parse_example(payload)
        except (ValueError, UnicodeDecodeError, struct.error) as exc:
            raise FlankitError(
                f"record {index}: not a tf.train.Example: {exc}", file=str(path)
            ) from exc


# --- encoding, for tests and fixtures --------------------------------------------------------


def _enc_varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _enc_field(number: int, payload: bytes) -> bytes:
    return _enc_varint(number << 3 | 2) + _enc_varint(len(payload)) + payload


def encode_example(features: dict[str, Feature], *, packed: bool = True) -> bytes:
    """A serialized `tf.train.Example` (the value type of each list picks its kind)."""
    entries = b""
    for key, values in features.items():
        if values and isinstance(values[0], bytes):
            body = b"".join(_enc_field(1, v) for v in values)
            feature = _enc_field(1, body)
        elif values and isinstance(values[0], float):
            if packed:
                body = _enc_field(1, struct.pack(f"<{len(values)}f", *values))
            else:
                body = b"".join(_enc_varint(1 << 3 | 5) + struct.pack("<f", v) for v in values)
            feature = _enc_field(2, body)
        else:
            if packed:
                body = _enc_field(1, b"".join(_enc_varint(v) for v in values))
            else:
                body = b"".join(_enc_varint(1 << 3) + _enc_varint(v) for v in values)
            feature = _enc_field(3, body)
        entries += _enc_field(1, _enc_field(1, key.encode("utf-8")) + _enc_field(2, feature))
    return _enc_field(1, entries)


def write_examples(
    path: str | Path, examples: list[dict[str, Feature]], *, packed: bool = True
) -> None:
    """A TFRecord file of `tf.train.Example`s (tests and local fixtures)."""
    with open(path, "wb") as handle:
        for features in examples:
            handle.write(encode_record(encode_example(features, packed=packed)))
