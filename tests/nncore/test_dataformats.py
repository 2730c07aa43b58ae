"""nncore.dataformats: every upload format parses to the same checked arrays; bad files are refused."""

from __future__ import annotations

import gzip
import io
import re
import zipfile

import numpy as np
import pytest

from nncore.dataformats import (DatasetFormatError, DatasetTooLarge, check_arrays, format_of,
                                load_dataset_file, split)
from tests.upload_files import (blobs, csv_bytes, idx_bytes, idx_members, npz_bytes, split_arrays,
                                tar_gz_bytes, zip_bomb, zip_bytes)

LIMIT = 1 << 24


def load(tmp_path, data: bytes, fmt: str, **kwargs):
    """Write `data` to a file and parse it as `fmt`."""
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    return load_dataset_file(path, fmt, max_bytes=kwargs.pop("max_bytes", LIMIT), **kwargs)


def assert_same(parsed, arrays):
    """The parsed dataset holds exactly `arrays`."""
    for key, expected in arrays.items():
        np.testing.assert_array_equal(getattr(parsed, key), expected)


@pytest.mark.parametrize("gz", [True, False])
def test_zip_and_tar_of_idx_files_parse_to_their_arrays(tmp_path, gz):
    arrays = split_arrays()
    members = {f"fashion/{name}": data for name, data in idx_members(arrays, gz).items()}
    for data, fmt in ((zip_bytes(members), "zip"), (tar_gz_bytes(members), "tar.gz")):
        parsed = load(tmp_path, data, fmt)
        assert_same(parsed, arrays)
        assert parsed.input_shape == (4, 4) and parsed.classes == 3
        assert parsed.x_train.dtype == np.uint8


def test_npz_with_a_test_split_keeps_it_and_floats_become_float32(tmp_path):
    arrays = split_arrays()
    arrays["x_train"] = arrays["x_train"].astype(np.float64) / 255
    arrays["x_test"] = arrays["x_test"].astype(np.float64) / 255
    parsed = load(tmp_path, npz_bytes(**arrays), "npz")
    assert parsed.x_train.dtype == np.float32
    np.testing.assert_allclose(parsed.x_test, arrays["x_test"], rtol=1e-6)
    np.testing.assert_array_equal(parsed.t_test, arrays["t_test"])


def test_without_a_test_split_the_fraction_is_split_off_keeping_rows_and_labels_paired(tmp_path):
    x, t = blobs(100, classes=4, shape=(6,))
    x[:, 0] = np.arange(100)  # a row id, to follow each row through the shuffle
    parsed = load(tmp_path, npz_bytes(x_train=x, t_train=t), "npz", test_fraction=0.2, seed=5)
    assert len(parsed.x_test) == 20 and len(parsed.x_train) == 80
    rows = np.concatenate([parsed.x_train[:, 0], parsed.x_test[:, 0]]).astype(int)
    labels = np.concatenate([parsed.t_train, parsed.t_test])
    assert sorted(rows) == list(range(100)) and rows.tolist() != list(range(100))
    np.testing.assert_array_equal(labels, t[rows])
    again = load(tmp_path, npz_bytes(x_train=x, t_train=t), "npz", test_fraction=0.2, seed=5)
    np.testing.assert_array_equal(again.x_test, parsed.x_test)


@pytest.mark.parametrize("header", [True, False])
def test_csv_label_first_header_optional(tmp_path, header):
    x, t = blobs(50, classes=2, shape=(3,))
    parsed = load(tmp_path, csv_bytes(x, t, header), "csv", test_fraction=0.1)
    assert parsed.x_train.dtype == np.uint8 and parsed.input_shape == (3,)
    assert len(parsed.x_train) + len(parsed.x_test) == 50 and parsed.classes == 2


def test_csv_floats_stay_floats_and_an_archive_of_two_csvs_parses(tmp_path):
    x = np.array([[0.5, -1.25], [2.0, 3.5], [0.0, 1.0]])
    t = np.array([0, 1, 1])
    members = {"train.csv": csv_bytes(x, t), "test.csv": csv_bytes(x[:2], t[:2], header=False)}
    parsed = load(tmp_path, zip_bytes(members), "zip")
    assert parsed.x_train.dtype == np.float32
    np.testing.assert_allclose(parsed.x_train, x)
    assert len(parsed.x_test) == 2


@pytest.mark.parametrize("arrays, message", [
    ({"x_train": np.zeros((5, 2), np.uint8), "t_train": np.arange(4) % 2}, "5 rows in x_train but 4"),
    ({"x_train": np.zeros((4, 2), np.uint8), "t_train": np.array([0, 1, -1, 0])}, "labels must be >= 0"),
    ({"x_train": np.zeros((4, 2), np.uint8), "t_train": np.zeros(4, int)}, "2 to 10000 classes"),
    ({"x_train": np.zeros((4, 2), np.uint8), "t_train": np.array([0, 1.5, 1, 0])}, "integer labels"),
    ({"x_train": np.full((4, 2), np.nan), "t_train": np.arange(4) % 2}, "NaN or infinite values (first in row 0)"),
    ({"x_train": np.array([[0.5, 0], [0, 0], [0, np.inf], [np.nan, 0]]), "t_train": np.arange(4) % 2},
     "x_train holds NaN or infinite values (first in row 2)"),
    ({"x_train": np.full((4, 2), 300), "t_train": np.arange(4) % 2}, "pixels in 0..255"),
    ({"x_train": np.zeros(4, np.uint8), "t_train": np.arange(4) % 2}, "shape (N, features"),
    ({"t_train": np.arange(4) % 2}, "missing array(s) x_train"),
    ({**split_arrays(), "x_test": np.zeros((30, 5), np.uint8)}, "must match x_train"),
])
def test_inconsistent_arrays_are_refused_naming_the_problem(arrays, message):
    with pytest.raises(DatasetFormatError, match=re.escape(message)):
        check_arrays(arrays)


def test_a_nan_past_the_first_chunk_of_rows_is_found_in_its_own_row():
    x = np.zeros((70_000, 1), np.float32)
    x[66_000, 0] = np.nan
    with pytest.raises(DatasetFormatError, match=r"first in row 66000\)"):
        check_arrays({"x_train": x, "t_train": np.arange(70_000) % 2})


def test_labels_above_the_declared_class_names_are_out_of_range():
    with pytest.raises(DatasetFormatError, match=r"labels must be in \[0, 1\] for 2 class names"):
        check_arrays(split_arrays(classes=3), classes=2)
    assert check_arrays(split_arrays(classes=3), classes=5).classes == 5


def test_a_pickled_object_array_is_refused(tmp_path):
    arrays = {"x_train": np.array([{"a": 1}] * 4, dtype=object), "t_train": np.arange(4) % 2}
    with pytest.raises(DatasetFormatError, match="pickled arrays are refused"):
        load(tmp_path, npz_bytes(**arrays), "npz")


def test_a_zip_bomb_stops_at_the_limit(tmp_path):
    bomb = zip_bomb(64 << 20)
    assert len(bomb) < 1 << 20
    with pytest.raises(DatasetTooLarge, match="more than the limit of 4194304 bytes"):
        load(tmp_path, bomb, "zip", max_bytes=4 << 20)


def test_a_gzip_bomb_inside_a_tar_stops_at_the_limit(tmp_path):
    members = idx_members(split_arrays())
    members["train-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(np.zeros((4096, 32, 32), np.uint8)))
    with pytest.raises(DatasetTooLarge):
        load(tmp_path, tar_gz_bytes(members), "tar.gz", max_bytes=1 << 20)
    with pytest.raises(DatasetFormatError, match="4096 rows in x_train but 60 labels"):
        load(tmp_path, tar_gz_bytes(members), "tar.gz")  # under the default limit it gets parsed


@pytest.mark.parametrize("name", ["/etc/train.csv", "../train-images-idx3-ubyte", "a/../../x"])
def test_absolute_and_climbing_member_paths_are_refused(tmp_path, name):
    members = {name: b"x", **idx_members(split_arrays())}
    for data, fmt in ((zip_bytes(members), "zip"), (tar_gz_bytes(members), "tar.gz")):
        with pytest.raises(DatasetFormatError, match="absolute or '..' path"):
            load(tmp_path, data, fmt)


@pytest.mark.parametrize("fmt", ["npz", "zip"])
def test_a_zip_member_with_an_empty_name_is_refused(tmp_path, fmt):
    """zipfile's own is_dir() raises IndexError on it: a format error instead (found by the lifecycle fuzz)."""
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as archive:
        archive.writestr(zipfile.ZipInfo(""), b"x")
    with pytest.raises(DatasetFormatError, match="empty name"):
        load(tmp_path, raw.getvalue(), fmt)


def test_links_in_a_tar_are_refused(tmp_path):
    data = tar_gz_bytes(idx_members(split_arrays()), links={"test.csv": "/etc/passwd"})
    with pytest.raises(DatasetFormatError, match="is a link"):
        load(tmp_path, data, "tar.gz")


@pytest.mark.parametrize("fmt", ["npz", "zip", "tar.gz"])
def test_truncated_files_are_refused(tmp_path, fmt):
    arrays = split_arrays()
    data = {"npz": npz_bytes(**arrays), "zip": zip_bytes(idx_members(arrays)),
            "tar.gz": tar_gz_bytes(idx_members(arrays))}[fmt]
    with pytest.raises(DatasetFormatError):
        load(tmp_path, data[: len(data) * 2 // 3], fmt)


def test_an_archive_without_the_expected_members_names_them(tmp_path):
    members = idx_members(split_arrays())
    members.pop("t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DatasetFormatError, match="missing t10k-labels-idx1-ubyte"):
        load(tmp_path, zip_bytes(members, zipfile.ZIP_STORED), "zip")


def test_format_of_and_split_arguments():
    assert [format_of(n) for n in ("a.NPZ", "b.csv", "c.zip", "d.tar.gz", "e.tgz")] == \
        ["npz", "csv", "zip", "tar.gz", "tar.gz"]
    with pytest.raises(DatasetFormatError, match="cannot tell the format"):
        format_of("data.parquet")
    x, t = blobs(10)
    with pytest.raises(DatasetFormatError, match=r"test_fraction must be in \(0, 1\)"):
        split(x, t, 1.0, 0)
    with pytest.raises(DatasetFormatError, match="only to a file without a test split"):
        check_arrays(split_arrays(), test_fraction=0.2)


def test_an_npz_of_exactly_the_checked_arrays_can_be_kept_as_read(tmp_path):
    arrays = split_arrays()
    assert load(tmp_path, npz_bytes(**arrays), "npz").as_read
    arrays["x_train"] = arrays["x_train"].astype(np.float64)
    arrays["x_test"] = arrays["x_test"].astype(np.float64)
    assert not load(tmp_path, npz_bytes(**arrays), "npz").as_read  # converted to float32
    assert not load(tmp_path, npz_bytes(**split_arrays(), extra=np.zeros(3)), "npz").as_read
    x, t = blobs(20)
    assert not load(tmp_path, npz_bytes(x_train=x, t_train=t), "npz").as_read  # split off a test set


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_an_npy_header_declaring_more_than_its_member_is_refused_before_allocating(tmp_path, compression):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False,
                                                   "shape": (10**12, 784)})
    members = {"x_train.npy": header.getvalue() + bytes(64), "t_train.npy": npz_member(np.arange(4) % 2)}
    with pytest.raises(DatasetFormatError, match="more than the member's"):
        load(tmp_path, zip_bytes(members, compression), "npz")


def npz_member(array: np.ndarray) -> bytes:
    """The .npy bytes of one array."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_an_npy_header_numpy_cannot_tokenize_is_a_format_error(tmp_path):
    """numpy parses a header's text with tokenize: its TokenError is refused like any bad header
    (the lifecycle fuzz found it reaching the server as UNKNOWN)."""
    good = io.BytesIO()
    np.save(good, np.zeros(3, np.float32))
    raw = good.getvalue()
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (3,"  # the tuple never closes
    member = raw[:10] + header.ljust(len(raw) - 22, b" ") + b"\n"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("x_train.npy", member)
    with pytest.raises(DatasetFormatError, match="not a .npy array"):
        load(tmp_path, archive.getvalue(), "npz")
