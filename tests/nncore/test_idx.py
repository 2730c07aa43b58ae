"""parse_idx on tiny files written by the test: good ones round-trip, bad ones name the file."""

import gzip

import numpy as np
import pytest
from nncore_testutils import idx_bytes, write_idx

from nncore.mnist import parse_idx


@pytest.mark.parametrize(
    "arr",
    [
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([5, 0, 4, 1, 9], dtype=np.uint8),
        np.array([-3, 7], dtype=np.int8),
        np.array([[1, -2], [300, -400]], dtype=np.int16),
        np.array([70000, -1, 2**31 - 1], dtype=np.int32),
        np.array([[0.5, -1.25]], dtype=np.float32),
        np.array([np.pi, -np.e], dtype=np.float64),
    ],
    ids=lambda a: f"{a.dtype}-{a.ndim}d",
)
@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_good_files_round_trip(arr, gz, tmp_path):
    path = write_idx(tmp_path / ("f.idx.gz" if gz else "f.idx"), arr, gz=gz)
    out = parse_idx(path)
    np.testing.assert_array_equal(out, arr)
    assert out.shape == arr.shape and out.dtype == arr.dtype.newbyteorder("=")
    assert out.flags.writeable and out.dtype.isnative


def test_gzip_is_detected_by_content_not_by_name(tmp_path):
    arr = np.arange(6, dtype=np.uint8)
    path = tmp_path / "labels-without-suffix"
    path.write_bytes(gzip.compress(idx_bytes(arr)))
    np.testing.assert_array_equal(parse_idx(str(path)), arr)


GOOD = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not an IDX file"),
        (b"\x01\x02\x08\x02" + GOOD[4:], "not an IDX file"),  # foreign magic
        (b"\x00\x00\x07\x02" + GOOD[4:], "not an IDX file"),  # unknown type code
        (b"\x00\x00\x08\x00", "not an IDX file"),  # no dimensions
        (GOOD[:10], "truncated IDX header"),
        (GOOD[:-1], "truncated"),
        (GOOD + b"\x00", "trailing bytes"),
        (GOOD[:4] + (4).to_bytes(4, "big") + GOOD[8:], r"dims \(4, 4\) need 28 bytes, file has 24"),  # wrong dims
        (b"%PDF-1.7 not an idx file at all", "not an IDX file"),
    ],
    ids=["empty", "bad-magic", "bad-type", "zero-dims", "short-header", "truncated", "trailing",
         "wrong-dims", "foreign"],
)
def test_malformed_files_raise_value_error_naming_the_file(data, message, tmp_path):
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=message) as excinfo:
        parse_idx(path)
    assert str(path) in str(excinfo.value)


def test_truncated_gzip_raises_value_error_naming_the_file(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(GOOD)[:-8])
    with pytest.raises(ValueError, match="gzip") as excinfo:
        parse_idx(path)
    assert str(path) in str(excinfo.value)


def test_truncated_payload_inside_a_good_gzip(tmp_path):
    path = tmp_path / "short.gz"
    path.write_bytes(gzip.compress(GOOD[:-3]))
    with pytest.raises(ValueError, match="truncated") as excinfo:
        parse_idx(path)
    assert str(path) in str(excinfo.value)
