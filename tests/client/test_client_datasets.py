"""Datasets through the SDK (upload_dataset, list/get/delete) and nnctl datasets, on a real server."""
from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest

from client import DatasetInfo, NNClient, NNServiceError
from client.datasets import CHUNK_BYTES, pack_arrays, prepare_upload
from client.streams import serialize_part
from protos import nn_service_pb2 as pb
from tests.upload_files import blobs, idx_members, split_arrays, tar_gz_bytes


def test_upload_a_file_then_train_on_it(nn_server, tmp_path):
    path = tmp_path / "clusters.tar.gz"
    path.write_bytes(tar_gz_bytes(idx_members(split_arrays(n_train=200, n_test=50, shape=(5, 5)))))
    bar = io.StringIO()
    with NNClient(nn_server.target) as nn:
        info = nn.upload_dataset(path, "clusters", class_names=["x", "y", "z"], file=bar)
        assert isinstance(info, DatasetInfo) and info.source == "uploaded"
        assert (info.input_shape, info.classes, info.train_size, info.format) == ((5, 5), 3, 200, "tar.gz")
        assert "upload clusters" in bar.getvalue() and "100%" in bar.getvalue()
        job_id, _ = nn.train(dataset="clusters", hidden_size=8, epochs=2, batch_size=10, seed=2)
        final = nn.wait(job_id, progress=False)
        assert final.state == "SUCCEEDED", final.error
        assert nn.get_model(final.model_id).architecture.input_size == 25


@pytest.mark.parametrize("as_tuple", [False, True])
def test_upload_arrays_list_get_delete(nn_server, as_tuple):
    x, t = blobs(40, classes=2, shape=(3,))
    arrays = (x, t) if as_tuple else {"x_train": x, "t_train": t}
    with NNClient(nn_server.target) as nn:
        info = nn.upload_dataset(arrays, "mem", test_fraction=0.25, progress=False)
        assert (info.train_size, info.test_size, info.input_shape) == (30, 10, (3,))
        assert [d.name for d in nn.list_datasets()] == ["fashion-mnist", "mnist", "mem"]
        assert nn.get_dataset("mnist").source == "builtin"
        assert nn.get_dataset("mem").sha256 == info.sha256
        assert nn.delete_dataset("mem").name == "mem"
        with pytest.raises(NNServiceError) as missing:
            nn.get_dataset("mem")
        assert missing.value.code.name == "NOT_FOUND"


def test_the_sdk_refuses_what_it_cannot_pack_before_sending(tmp_path):
    with pytest.raises(ValueError, match="x_train, t_train and optionally"):
        pack_arrays({"x": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="object arrays"):
        pack_arrays((np.array([object(), object()]), np.array([0, 1])))
    (tmp_path / "data.parquet").write_bytes(b"x")
    with pytest.raises(ValueError, match="cannot tell the format"):
        prepare_upload(tmp_path / "data.parquet", "p")
    with pytest.raises(ValueError, match="no dataset file"):
        prepare_upload(tmp_path / "absent.npz", "p")


def test_nnctl_datasets_upload_ls_show_rm(nnctl, nn_server, tmp_path):
    on = ["--target", nn_server.target]
    path = tmp_path / "pts.npz"
    path.write_bytes(pack_arrays(split_arrays(n_train=30, n_test=12, shape=(2,))))
    code, out, err = nnctl(*on, "datasets", "upload", path, "--name", "pts", "--class-names", "a,b,c")
    assert code == 0 and "dataset:     pts" in out and "class names: a, b, c" in out, out
    assert "upload pts" in err
    code, out, _ = nnctl(*on, "datasets", "ls")
    assert code == 0 and out.splitlines()[0].split()[:3] == ["NAME", "SOURCE", "INPUT"]
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["fashion-mnist", "mnist", "pts"]
    code, out, _ = nnctl(*on, "--json", "datasets", "show", "pts")
    shown = json.loads(out)
    assert code == 0 and (shown["train_size"], shown["test_size"], shown["input_shape"]) == (30, 12, [2])
    code, out, err = nnctl(*on, "datasets", "upload", path, "--name", "pts")
    assert code == 1 and "ALREADY_EXISTS" in err and "exists already" in err
    assert nnctl(*on, "datasets", "rm", "pts") == (0, "deleted dataset pts\n", "")
    code, _, err = nnctl(*on, "datasets", "show", "pts")
    assert code == 1 and "no uploaded dataset named 'pts'" in err


def _on_the_wire(upload) -> list[pb.UploadDatasetRequest]:
    """The upload's requests as the server's protobuf parser reads what the SDK sends."""
    return [pb.UploadDatasetRequest.FromString(serialize_part(r)) for r in upload.requests()]


def test_sha256_declared_computed_or_left_out(nn_server, tmp_path):
    path = tmp_path / "d.npz"
    path.write_bytes(pack_arrays(split_arrays()))
    with NNClient(nn_server.target) as nn:
        with pytest.raises(NNServiceError) as mismatch:
            nn.upload_dataset(path, "d", sha256="ab" * 32, progress=False)
        assert mismatch.value.code.name == "INVALID_ARGUMENT" and "sha256 mismatch" in str(mismatch.value)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        last = _on_the_wire(prepare_upload(path, "d"))[-1]
        assert last.WhichOneof("part") == "sha256" and last.sha256 == digest  # hashed while sent
        assert not any(r.WhichOneof("part") == "sha256" for r in _on_the_wire(prepare_upload(path, "d", sha256=False)))
        assert nn.upload_dataset(path, "d", sha256=False, progress=False).sha256 == digest  # the server's


def test_the_sha256_hashed_beside_the_sending_covers_every_chunk_in_order(tmp_path):
    path = tmp_path / "big.npz"
    path.write_bytes(np.random.default_rng(0).bytes(2 * CHUNK_BYTES + 12345))  # three chunks
    requests = _on_the_wire(prepare_upload(path, "big", format="npz"))
    chunks = [r.chunk for r in requests if r.WhichOneof("part") == "chunk"]
    assert [len(c) for c in chunks] == [CHUNK_BYTES, CHUNK_BYTES, 12345]
    assert requests[-1].sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_upload_abandoned_midway_releases_its_hashing_thread(tmp_path):
    import threading

    path = tmp_path / "big.npz"
    path.write_bytes(bytes(3 * CHUNK_BYTES))
    stream = prepare_upload(path, "big", format="npz").requests()
    next(stream), next(stream)  # the metadata, one chunk: the RPC failed here
    stream.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("nnclient-sha256")]
