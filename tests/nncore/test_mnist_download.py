"""download_mnist against a local HTTP server on 127.0.0.1 and with an injected fetcher (no network)."""

import functools
import gzip
import hashlib
import http.server
import socket
import threading

import numpy as np
import pytest
from nncore_testutils import fake_mnist, idx_bytes

from nncore.mnist import MNIST_FILES, MnistNotFoundError, download_mnist, load_mnist, parse_idx

T10K_LABELS = "t10k-labels-idx1-ubyte"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture
def http_root(tmp_path):
    """Serve tmp_path/www on 127.0.0.1 (a random port); yield (root dir, base url)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def other_files_present(data_dir):
    """Put placeholders for all files but t10k labels, so only that one is fetched."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for name in MNIST_FILES:
        if name != T10K_LABELS:
            (data_dir / f"{name}.gz").write_bytes(b"placeholder")


def leftovers(data_dir):
    return sorted(p.name for p in data_dir.iterdir() if not p.read_bytes() == b"placeholder")


@pytest.fixture
def real_labels_gz(mnist_dir):
    return (mnist_dir / f"{T10K_LABELS}.gz").read_bytes()


def test_http_dead_mirror_then_good_mirror(http_root, real_labels_gz, tmp_path):
    root, base = http_root
    (root / "good").mkdir()
    (root / "good" / f"{T10K_LABELS}.gz").write_bytes(real_labels_gz)
    data_dir = tmp_path / "data"
    other_files_present(data_dir)
    written = download_mnist(data_dir, mirrors=[f"{base}/dead/", f"{base}/good"])
    assert written == [data_dir / f"{T10K_LABELS}.gz"]
    assert written[0].read_bytes() == real_labels_gz
    labels = parse_idx(written[0])
    assert labels.shape == (10000,) and labels.max() == 9
    assert download_mnist(data_dir, mirrors=[f"{base}/dead/"]) == []  # nothing missing any more


def test_http_bad_checksum_is_rejected_and_nothing_is_left(http_root, tmp_path):
    root, base = http_root
    (root / "evil").mkdir()
    tampered = gzip.compress(idx_bytes(np.zeros(10000, dtype=np.uint8)))
    (root / "evil" / f"{T10K_LABELS}.gz").write_bytes(tampered)
    data_dir = tmp_path / "data"
    other_files_present(data_dir)
    with pytest.raises(MnistNotFoundError, match="does not match the expected") as excinfo:
        download_mnist(data_dir, mirrors=[f"{base}/evil/"])
    assert str(data_dir) in str(excinfo.value)
    assert leftovers(data_dir) == []


def test_all_mirrors_dead_names_the_directory_and_the_four_files(http_root, tmp_path):
    _, base = http_root
    closed = socket_that_refuses()
    data_dir = tmp_path / "empty"
    with pytest.raises(MnistNotFoundError) as excinfo:
        download_mnist(data_dir, mirrors=[f"{base}/nothing-here/", f"http://127.0.0.1:{closed}/"])
    message = str(excinfo.value)
    assert isinstance(excinfo.value, FileNotFoundError)
    assert str(data_dir) in message and all(name in message for name in MNIST_FILES)
    assert "download" in message
    assert list(data_dir.iterdir()) == []


def socket_that_refuses():
    """Return a port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fake_site(arrays, *, raw=False):
    """Return {url-path: bytes} and the checksum table for tiny fake MNIST files."""
    files, sums = {}, {}
    for name, arr in arrays.items():
        content = idx_bytes(arr)
        files[f"{name}.gz"] = content if raw else gzip.compress(content)
        sums[name] = hashlib.sha256(content).hexdigest()
    return files, sums


def make_fetch(sites, log):
    """Return fetch(url) serving {mirror: {file: bytes}}, raising OSError like a dead host."""

    def fetch(url):
        log.append(url)
        mirror, _, name = url.rpartition("/")
        try:
            return sites[mirror][name]
        except KeyError:
            raise OSError(f"connection refused: {url}") from None

    return fetch


@pytest.mark.parametrize("raw", [False, True], ids=["gz", "raw"])
def test_injected_fetcher_downloads_all_four_then_load_mnist_reads_them(raw, tmp_path):
    arrays = fake_mnist()
    files, sums = fake_site(arrays, raw=raw)
    log = []
    fetch = make_fetch({"https://good": files}, log)
    written = download_mnist(tmp_path, mirrors=["https://dead/", "https://good/"], fetch=fetch, checksums=sums)
    suffix = "" if raw else ".gz"
    assert written == [tmp_path / f"{name}{suffix}" for name in MNIST_FILES]
    assert log == [f"https://{m}/{name}.gz" for name in MNIST_FILES for m in ("dead", "good")]
    (x, t), (xt, tt) = load_mnist(data_dir=tmp_path, normalize=False, flatten=False)
    np.testing.assert_array_equal(x[:, 0], arrays[MNIST_FILES[0]])
    np.testing.assert_array_equal(tt, arrays[MNIST_FILES[3]])


def test_injected_fetcher_skips_files_already_present(tmp_path):
    arrays = fake_mnist()
    files, sums = fake_site(arrays)
    (tmp_path / MNIST_FILES[0]).write_bytes(idx_bytes(arrays[MNIST_FILES[0]]))
    log = []
    download_mnist(tmp_path, mirrors=["https://good"], fetch=make_fetch({"https://good": files}, log), checksums=sums)
    assert [url.rsplit("/", 1)[1] for url in log] == [f"{n}.gz" for n in MNIST_FILES[1:]]


def test_injected_fetcher_bad_checksum_and_corrupt_gzip_fall_through_to_a_good_mirror(tmp_path):
    arrays = fake_mnist()
    files, sums = fake_site(arrays)
    bad = {name: gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 8) for name in files}
    corrupt = {name: data[:-10] for name, data in files.items()}
    log = []
    fetch = make_fetch({"https://bad": bad, "https://corrupt": corrupt, "https://good": files}, log)
    written = download_mnist(tmp_path, mirrors=["https://bad", "https://corrupt", "https://good"],
                             fetch=fetch, checksums=sums)
    assert len(written) == 4 and len(log) == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.gz" for n in MNIST_FILES)


def test_injected_fetcher_partial_failure_keeps_good_files_and_names_the_rest(tmp_path):
    arrays = fake_mnist()
    files, sums = fake_site(arrays)
    del files[f"{MNIST_FILES[2]}.gz"]
    with pytest.raises(MnistNotFoundError, match=f"could not download {MNIST_FILES[2]} from 1 mirror"):
        download_mnist(tmp_path, mirrors=["https://good"], fetch=make_fetch({"https://good": files}, []),
                       checksums=sums)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{n}.gz" for n in MNIST_FILES if n != MNIST_FILES[2]
    )


def test_real_checksum_table_accepts_the_shared_files(mnist_dir, tmp_path):
    site = {f"{name}.gz": (mnist_dir / f"{name}.gz").read_bytes() for name in MNIST_FILES}
    written = download_mnist(tmp_path, mirrors=["https://mirror"], fetch=make_fetch({"https://mirror": site}, []))
    assert len(written) == 4


def test_a_download_over_the_size_cap_is_refused_and_the_next_mirror_used(
        http_root, real_labels_gz, tmp_path, monkeypatch):
    from nncore import download

    root, base = http_root
    (root / "huge").mkdir()
    (root / "huge" / f"{T10K_LABELS}.gz").write_bytes(real_labels_gz + bytes(len(real_labels_gz)))
    (root / "good").mkdir()
    (root / "good" / f"{T10K_LABELS}.gz").write_bytes(real_labels_gz)
    monkeypatch.setattr(download, "_MAX_DOWNLOAD", len(real_labels_gz))  # exactly the real file fits
    data_dir = tmp_path / "data"
    other_files_present(data_dir)
    with pytest.raises(MnistNotFoundError, match=f"larger than {len(real_labels_gz)} bytes"):
        download_mnist(data_dir, mirrors=[f"{base}/huge/"])
    assert leftovers(data_dir) == []
    assert download_mnist(data_dir, mirrors=[f"{base}/huge/", f"{base}/good"]) == [data_dir / f"{T10K_LABELS}.gz"]
