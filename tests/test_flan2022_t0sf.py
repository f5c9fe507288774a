"""T0-SF: the TFRecord reader (no TensorFlow), the P3 catalog and FLAN's T0 wrappers."""

from __future__ import annotations

import struct

import pytest

from flankit.data.flan2022 import tfrecord
from flankit.errors import FlankitError


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"123456789", 0xE3069283),
        (bytes(32), 0x8A9136AA),  # RFC 3720 B.4 vectors
        (b"\xff" * 32, 0x62A8AB43),
        (bytes(range(32)), 0x46DD794E),
        (bytes(range(31, -1, -1)), 0x113FDB5C),
        (b"", 0),
    ],
)
def test_crc32c_vectors(data, expected):
    assert tfrecord.crc32c(data) == expected


def test_record_framing_layout():
    frame = tfrecord.encode_record(b"abc")
    assert struct.unpack("<Q", frame[:8])[0] == 3
    assert frame[12:15] == b"abc"
    crc = tfrecord.crc32c(b"abc")
    rotated = ((crc >> 15) | (crc << 17)) & 0xFFFFFFFF
    assert struct.unpack("<I", frame[15:])[0] == (rotated + 0xA282EAD8) & 0xFFFFFFFF


@pytest.mark.parametrize("packed", [True, False])
def test_example_round_trip(tmp_path, packed):
    rows = [
        {
            "inputs_pretokenized": ["Q: é?\n".encode()],
            "answer_choices": [b"yes", b"no", b""],
            "inputs": [1, 300, -2, 2**40],
            "weight": [0.5, -1.25],
        },
        {"targets_pretokenized": [b"no"], "empty": []},
    ]
    path = tmp_path / "train.tfrecord-00000-of-00001"
    tfrecord.write_examples(path, rows, packed=packed)
    got = list(tfrecord.read_examples(path))
    assert got[0]["inputs_pretokenized"] == ["Q: é?\n".encode()]
    assert got[0]["answer_choices"] == [b"yes", b"no", b""]
    assert got[0]["inputs"] == [1, 300, -2, 2**40]
    assert got[0]["weight"] == [0.5, -1.25]
    assert got[1] == {"targets_pretokenized": [b"no"], "empty": []}


def _two_records(tmp_path):
    path = tmp_path / "x.tfrecord"
    path.write_bytes(tfrecord.encode_record(b"first") + tfrecord.encode_record(b"second"))
    return path


def test_corrupt_payload_crc_names_file_and_record(tmp_path):
    path = _two_records(tmp_path)
    data = bytearray(path.read_bytes())
    data[21 + 12] ^= 0x01  # a byte of the second payload
    path.write_bytes(bytes(data))
    with pytest.raises(FlankitError, match=r"x\.tfrecord: record 1: payload CRC mismatch"):
        list(tfrecord.read_records(path))
    assert list(tfrecord.read_records(path, verify=False))[0] == b"first"


def test_corrupt_length_crc(tmp_path):
    path = _two_records(tmp_path)
    data = bytearray(path.read_bytes())
    data[0] ^= 0x02
    path.write_bytes(bytes(data))
    with pytest.raises(FlankitError, match="record 0: length CRC mismatch"):
        list(tfrecord.read_records(path))


@pytest.mark.parametrize("cut", [3, 10, 4])
def test_truncated_file(tmp_path, cut):
    path = _two_records(tmp_path)
    path.write_bytes(path.read_bytes()[:-cut] if cut != 10 else path.read_bytes()[: 21 + 10])
    with pytest.raises(FlankitError, match="record 1: truncated"):
        list(tfrecord.read_records(path))


def test_not_an_example(tmp_path):
    path = tmp_path / "bad.tfrecord"
    path.write_bytes(tfrecord.encode_record(b"\x0a\x50zz"))  # field 1 claims 80 bytes
    with pytest.raises(FlankitError, match="bad.tfrecord: record 0: not a tf.train.Example"):
        list(tfrecord.read_examples(path))
