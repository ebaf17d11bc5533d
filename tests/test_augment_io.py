"""Files (JSON and compact binary) and streaming statistics of accel.augment."""

from __future__ import annotations

import itertools
import json
import os
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel.augment import (
    PARAM_NAMES,
    AugmentationBatch,
    compute_statistics,
    gen_augmentation_batch,
    generate_augmentation_chain,
    get_preset,
    load_augmentation_chain,
    load_augmentation_stream,
    save_augmentation_chain,
    stream_augmentation_chain,
    stream_distributed_augmentation_chain,
)
from accel.augment._binary import _HEADER, _TRAILER


def _cat(batches):
    return AugmentationBatch.concatenate(list(batches))


def test_json_roundtrip_in_dpa_layout(tmp_path):
    path = tmp_path / "sub" / "chain.json"
    chain = generate_augmentation_chain(20, get_preset("mild"), save_path=str(path), seed=0)
    data = json.loads(path.read_text())
    assert set(data) == {"metadata", "augmentations", "statistics"}
    assert data["metadata"]["num_samples"] == 20 and data["metadata"]["config"]["rotation_range"] == [-15.0, 15.0]
    assert (data["metadata"]["seed"], data["metadata"]["algorithm"]) == (0, "threefry2x32")
    assert data["statistics"] == compute_statistics(chain)
    assert load_augmentation_chain(path) == chain
    assert [p.name for p in path.parent.iterdir()] == ["chain.json"]  # no temp files left


def _file_bytes_per_sample(path, n):
    with open(path, "rb") as f:
        f.seek(-_TRAILER.size, os.SEEK_END)
        footer_len = _TRAILER.unpack(f.read(_TRAILER.size))[0]
    return (os.path.getsize(path) - _HEADER.size - _TRAILER.size - footer_len) / n


@pytest.mark.parametrize(
    ("make", "per_sample"),
    [
        (lambda: stream_augmentation_chain(3000, chunk_size=1000, start_id=2**63), 20),
        (lambda: stream_distributed_augmentation_chain(6000, 2, 4, chunk_size=700, mode="strided"), 20),
        (lambda: [gen_augmentation_batch(np.random.default_rng(0).permutation(3000) + 2**40)], 24),
        (lambda: [gen_augmentation_batch(np.array([5, 2**63, 7, 2**64 - 1], dtype=np.uint64))], 28),
    ],
)
def test_binary_roundtrip_and_size(tmp_path, make, per_sample):
    path = tmp_path / "p.aug"
    save_augmentation_chain(make(), path)
    want = _cat(make())
    assert _file_bytes_per_sample(path, len(want)) == per_sample
    for chunk in (1, 333, 10_000):
        got = _cat(load_augmentation_stream(path, chunk_size=chunk))
        np.testing.assert_array_equal(got.sample_ids, want.sample_ids)
        for n in PARAM_NAMES:
            np.testing.assert_array_equal(got.to_numpy()[n], want.to_numpy()[n])
    assert (got.seed, got.epoch, got.algorithm, got.config) == (want.seed, want.epoch, want.algorithm, want.config)
    assert load_augmentation_chain(path) == list(want.records())


def test_binary_reads_in_chunks_without_loading_the_file(tmp_path):
    path = tmp_path / "big.aug"
    save_augmentation_chain(stream_augmentation_chain(200_000, chunk_size=50_000), path)
    assert os.path.getsize(path) > 4_000_000
    tracemalloc.start()
    total = sum(len(b) for b in load_augmentation_stream(path, chunk_size=1000, verify=True))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert total == 200_000 and peak < 1_500_000, peak  # CRC blocks + one chunk, not the 4 MB file


def test_failed_write_leaves_no_partial_file(tmp_path):
    path = tmp_path / "p.aug"
    save_augmentation_chain(gen_augmentation_batch([1, 2, 3]), path)
    before = path.read_bytes()

    def broken():
        yield from stream_augmentation_chain(10, chunk_size=4)
        raise RuntimeError("producer died")

    with pytest.raises(RuntimeError, match="producer died"):
        save_augmentation_chain(broken(), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.aug"]
    with pytest.raises(RuntimeError, match="producer died"):
        save_augmentation_chain(broken(), tmp_path / "new.aug")
    assert not (tmp_path / "new.aug").exists()


@pytest.fixture
def binary_file(tmp_path):
    path = tmp_path / "p.aug"
    save_augmentation_chain(stream_augmentation_chain(100, chunk_size=30), path)
    return path


def test_truncated_binary_raises(binary_file):
    data = binary_file.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 10):
        binary_file.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=r"truncated|bad magic"):
            load_augmentation_stream(binary_file)


def test_corrupt_binary_raises(binary_file):
    data = bytearray(binary_file.read_bytes())
    data[100] ^= 0x01
    binary_file.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="CRC-32 mismatch"):
        load_augmentation_chain(binary_file)
    data[100] ^= 0x01
    data[0:8] = b"NOTMAGIC"
    binary_file.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="not a binary parameter file"):
        load_augmentation_stream(binary_file)


def test_truncated_or_corrupt_json_raises(tmp_path):
    path = tmp_path / "c.json"
    generate_augmentation_chain(5, save_path=str(path))
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt JSON"):
        load_augmentation_chain(path)
    data = json.loads(text)
    data["augmentations"].pop()
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="metadata says 5 samples, found 4"):
        load_augmentation_chain(path)
    path.write_text(json.dumps({"foo": 1}))
    with pytest.raises(ValueError, match="no 'augmentations' list"):
        load_augmentation_chain(path)


def test_save_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="format must be one of"):
        save_augmentation_chain([], tmp_path / "x", format="csv")
    with pytest.raises(ValueError, match="needs 'sample_id'"):
        save_augmentation_chain([{"rotation": 1.0}], tmp_path / "x.aug")
    with pytest.raises(ValueError, match="chunk_size"):
        load_augmentation_stream(tmp_path / "x.aug", chunk_size=0)


# -- statistics -------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(
    data=st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=300),
    cuts=st.lists(st.integers(0, 300), max_size=6),
    offset=st.sampled_from([0.0, 1e3, -1e5]),
)
def test_statistics_parallel_merge_equals_numpy(data, cuts, offset):
    x = np.asarray(data) + offset
    bounds = sorted({0, len(x), *[c % (len(x) + 1) for c in cuts]})
    chunks = [{n: x[a:b] * (j + 1) for j, n in enumerate(PARAM_NAMES)} for a, b in itertools.pairwise(bounds)]
    stats = compute_statistics(chunks)
    for j, n in enumerate(PARAM_NAMES):
        v = x * (j + 1)
        scale = max(1.0, float(np.max(np.abs(v))))
        assert stats[n]["count"] == len(v)
        assert abs(stats[n]["mean"] - np.mean(v)) <= 1e-12 * scale
        assert abs(stats[n]["stdev"] - np.std(v, ddof=1)) <= 1e-12 * scale
        assert stats[n]["min"] == np.min(v) and stats[n]["max"] == np.max(v)


def test_statistics_inputs_agree():
    stream = list(stream_augmentation_chain(1000, chunk_size=300, seed=2))
    whole = _cat(stream)
    recs = list(whole.records())
    a, b, c = compute_statistics(iter(stream)), compute_statistics(recs), compute_statistics(whole)
    for n in PARAM_NAMES:
        v = whole.to_numpy()[n].astype(np.float64)
        for s in (a, b, c):
            assert s[n]["count"] == 1000
            np.testing.assert_allclose(s[n]["mean"], v.mean(), rtol=1e-12)
            np.testing.assert_allclose(s[n]["stdev"], v.std(ddof=1), rtol=1e-12)
    assert compute_statistics(recs[:1])["noise"]["stdev"] == 0.0


def test_statistics_errors():
    with pytest.raises(ValueError, match="at least one sample"):
        compute_statistics([])
    with pytest.raises(TypeError, match="compute_statistics takes"):
        compute_statistics([1, 2, 3])
    with pytest.raises(ValueError, match="must be finite"):
        compute_statistics({n: np.array([np.nan]) for n in PARAM_NAMES})


# -- validation of JSON files and of saved records --------------------------------------------
def _set(path_in_file, value):
    def edit(data):
        target = data
        for key in path_in_file[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path_in_file[-1]]
        else:
            target[path_in_file[-1]] = value

    return edit


_DELETE = object()


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (_set(("metadata", "format_version"), 99), r"unsupported format_version 99 \(this build reads 1\)"),
        (_set(("metadata", "format_version"), True), "unsupported format_version True"),
        (_set(("augmentations", 1, "rotation"), float("nan")), "parameter rotation of augmentation 1 is not finite"),
        (_set(("augmentations", 1, "rotation"), 1e9), r"rotation of sample 1 is 1000000000.0, outside the config's rotation_range \[-30, 30\]"),
        (_set(("augmentations", 2, "scale"), 0.0), r"scale of sample 2 is 0.0, outside the config's scale_range \[0.8, 1.2\]"),
        (_set(("augmentations", 1, "rotation"), "3"), "parameter rotation of augmentation 1 must be a real number, got str"),
        (_set(("augmentations", 1, "noise"), True), "parameter noise of augmentation 1 must be a real number, got bool"),
        (_set(("augmentations", 0, "sample_id"), -1), r"sample_id of augmentation 0 must be an integer in \[0, 18446744073709551615\], got -1"),
        (_set(("augmentations", 0, "sample_id"), 2**64), "sample_id of augmentation 0 must be an integer in"),
        (_set(("augmentations", 0, "sample_id"), 1.5), "sample_id of augmentation 0 must be an integer in .*got float"),
        (_set(("augmentations", 2, "sample_id"), _DELETE), "augmentation 2 has no sample_id"),
        (_set(("metadata",), [1]), "'metadata' is a list, not an object"),
        (_set(("metadata", "config", "rotation_range"), [5, 1]), "metadata config is invalid .*rotation_range must satisfy lo < hi"),
    ],
    ids=["version-99", "version-bool", "nan", "rotation-1e9", "scale-0", "str-value", "bool-value",
         "id-negative", "id-2**64", "id-fractional", "id-missing", "metadata-list", "bad-config"],
)
def test_json_file_is_validated_like_the_binary_one(tmp_path, edit, match):
    path = tmp_path / "c.json"
    generate_augmentation_chain(5, save_path=str(path))  # the default config: rotation +-30
    assert load_augmentation_chain(path)[1]["sample_id"] == 1
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=match):
        load_augmentation_chain(path)


def test_json_written_by_dpa_itself_loads(tmp_path):
    """DPA's own files have neither format_version nor sample_id (and a 'hash')."""
    records = [dict(dict(zip(PARAM_NAMES, (1.0, 1.0, 0.05, 1.0, 1.0), strict=True)), hash="ab" * 32)] * 3
    path = tmp_path / "dpa.json"
    path.write_text(json.dumps({"metadata": {"num_samples": 3, "config": None}, "augmentations": records}))
    assert load_augmentation_chain(path) == records
    mixed = [dict(records[0], sample_id=0), *records[1:]]
    path.write_text(json.dumps({"metadata": {"num_samples": 3}, "augmentations": mixed}))
    with pytest.raises(ValueError, match="augmentation 1 has no sample_id"):
        load_augmentation_chain(path)


def _record(**changes):
    rec = {"sample_id": 0, "rotation": 1.0, "brightness": 1.0, "noise": 0.05, "scale": 1.0, "contrast": 1.0}
    rec.update(changes)
    return rec


@pytest.mark.parametrize("suffix", [".json", ".aug"])
@pytest.mark.parametrize(
    ("records", "config", "error", "match"),
    [
        ([_record(sample_id=1.5)], None, TypeError, r"sample_id of record 0 must be an integer in \[0, 18446744073709551615\], got float"),
        ([_record(), _record(sample_id=-1)], None, ValueError, "sample_id of record 1 must be an integer in .*got -1"),
        ([_record(sample_id=True)], None, TypeError, "sample_id of record 0 must be an integer in .*got bool"),
        ([_record(rotation="1")], None, TypeError, "parameter rotation of record 0 must be a real number, got str"),
        ([_record(noise=float("inf"))], None, ValueError, "parameter noise of record 0 is not finite"),
        ([_record(rotation=40.0)], get_preset("moderate"), ValueError, r"rotation of sample 0 is 40.0, outside the config's rotation_range \[-30, 30\]"),
    ],
    ids=["id-fractional", "id-negative", "id-bool", "str-value", "inf", "out-of-range"],
)
def test_save_refuses_records_it_would_change_or_not_load(tmp_path, suffix, records, config, error, match):
    path = tmp_path / f"p{suffix}"
    with pytest.raises(error, match=match):
        save_augmentation_chain(records, path, config)
    assert not path.exists()
    save_augmentation_chain([_record(sample_id=np.uint64(2**64 - 1))], path, get_preset("moderate"))
    assert load_augmentation_chain(path)[0]["sample_id"] == 2**64 - 1
