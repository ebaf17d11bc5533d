"""Issue 25.6: bad input that raised RecursionError, AttributeError or an unclear error (or
none) is refused with a ValueError/TypeError naming the file or the parameter."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from _dataset_files import CAL_ROWS, cal_csv, cal_tgz

import accel.dpa as dpa
from accel import augment
from accel._checks import JSONDecoder, parse_json
from accel.augment import _ops
from accel.augment._binary import _HEADER, _TRAILER, END_MAGIC
from accel.parallel import _checkpoint
from benchmarks.datasets import load_california_housing

DEEP = "[" * 100_000  # far past the JSON parser's recursion limit
GOOD = dict(rotation=1.0, brightness=1.0, noise=0.0, scale=1.0, contrast=1.0)


# -- deeply nested JSON in every loader --------------------------------------------------------
def test_the_shared_decoder_reports_deep_nesting_as_a_json_error():
    with pytest.raises(json.JSONDecodeError, match="nested too deeply for the JSON parser"):
        parse_json(DEEP)
    with pytest.raises(json.JSONDecodeError, match="nested too deeply"):
        JSONDecoder().raw_decode('{"a": ' + DEEP, 0)
    assert parse_json(b'{"a": [[1]]}') == {"a": [[1]]}


def test_augment_json_chain_nested_too_deeply(tmp_path):
    path = tmp_path / "chain.json"
    path.write_text('{"augmentations": ' + DEEP)
    with pytest.raises(ValueError, match=re.escape(f"{path} is not a valid augmentation chain file") + ".*nested too deeply"):
        augment.load_augmentation_chain(path)


def test_augment_binary_footer_nested_too_deeply(tmp_path):
    path = tmp_path / "chain.aug"
    augment.save_augmentation_chain(augment.stream_augmentation_chain(3, chunk_size=3), path)
    head = path.read_bytes()[: _HEADER.size]
    footer = DEEP.encode()
    path.write_bytes(head + footer + _TRAILER.pack(len(footer), 0, 0, END_MAGIC))
    with pytest.raises(ValueError, match=re.escape(f"{path} is corrupt: unreadable footer") + ".*nested too deeply"):
        augment.load_augmentation_chain(path)


def test_checkpoint_meta_nested_too_deeply(tmp_path):
    state = {"w": np.zeros(2, np.float32)}
    step_dir = _checkpoint.save(tmp_path, 3, state, {}, keep=1)
    (step_dir / "meta.json").write_text(DEEP)
    with pytest.raises(ValueError, match=re.escape(f"checkpoint '{step_dir}' is unreadable: meta.json is truncated or corrupt")):
        _checkpoint.restore(tmp_path, state)


def test_dpa_loaders_nested_too_deeply(tmp_path, capsys):
    path = tmp_path / "chain.json"
    path.write_text('{"metadata": {}, "augmentations": ' + DEEP)
    # DPA's own types: json.JSONDecodeError (a ValueError) and StreamingIOError, naming the file
    with pytest.raises(json.JSONDecodeError, match=re.escape(f"Invalid JSON in {path}") + ".*nested too deeply"):
        dpa.load_augmentation_chain(str(path))
    with pytest.raises(dpa.StreamingIOError, match=re.escape(f"Invalid JSON in {path}") + ".*nested too deeply"):
        dpa.load_augmentation_stream(str(path))
    info = dpa.recover_partial_write(str(path))
    assert (info["recoverable"], info["samples_found"]) == (False, 0)
    path.write_text('{"metadata": ' + DEEP)
    assert dpa.recover_partial_write(str(path))["metadata"] is None


# -- accel.dpa.compute_statistics on a bad record ------------------------------------------------
@pytest.mark.parametrize(
    ("bad", "exc", "match"),
    [
        ({}, ValueError, r"record 1 lacks \['rotation', 'brightness', 'noise', 'scale', 'contrast'\]"),
        ({k: v for k, v in GOOD.items() if k != "noise"}, ValueError, r"record 1 lacks \['noise'\]"),
        (dict(GOOD, rotation="x"), TypeError, "parameter rotation of record 1 must be a real number, got str"),
        (dict(GOOD, rotation="1.5"), TypeError, "parameter rotation of record 1 must be a real number, got str"),
        (dict(GOOD, scale=None), TypeError, "parameter scale of record 1 must be a real number, got NoneType"),
        (dict(GOOD, rotation=[1, 2]), TypeError, "parameter rotation of record 1 must be a real number, got list"),
        (dict(GOOD, contrast=1 + 2j), TypeError, "parameter contrast of record 1 must be a real number, got complex"),
        (dict(GOOD, noise=True), TypeError, "parameter noise of record 1 must be a real number, got bool"),
        (dict(GOOD, rotation=float("inf")), ValueError, "parameter rotation of record 1 is not finite: inf"),
        ("x", TypeError, "record 1 must be a per-sample dict with the keys"),
        (None, TypeError, "record 1 must be a per-sample dict with the keys .*, got NoneType"),
    ],
)
def test_compute_statistics_names_the_bad_record(bad, exc, match):
    for compute in (dpa.compute_statistics, augment.compute_statistics):
        with pytest.raises(exc, match="^compute_statistics: " + match):
            compute([GOOD, bad, GOOD])


def test_compute_statistics_names_a_bad_first_or_single_record():
    with pytest.raises(TypeError, match="parameter rotation of record 0 must be a real number, got str"):
        dpa.compute_statistics([dict(GOOD, rotation="x")])
    with pytest.raises(TypeError, match="parameter rotation of record 0 must be a real number, got str"):
        augment.compute_statistics(dict(GOOD, rotation="x"))
    with pytest.raises(ValueError, match=r"record 0 lacks \['rotation'"):
        dpa.compute_statistics([{}])


def test_compute_statistics_of_valid_records_is_unchanged():
    rows = [dict(GOOD, rotation=r, sample_id=i, hash="h") for i, r in enumerate((0, 10, np.float32(2.5), np.int64(3)))]
    s = dpa.compute_statistics(rows)["rotation"]
    assert (s["min"], s["max"], s["count"]) == (0.0, 10.0, 4)
    assert s["mean"] == pytest.approx(3.875)


# -- stream_augmentation_chain_batched(10, "x") --------------------------------------------------
def test_batched_stream_refuses_a_batch_config_that_is_not_one():
    for call in (
        lambda: dpa.stream_augmentation_chain_batched(10, "x"),
        lambda: dpa.stream_augmentation_range_batched(0, 10, "x"),
        lambda: dpa.get_batch_metrics(iter([GOOD]), 5),
    ):
        with pytest.raises(TypeError, match=r"batch_config must be an accel\.dpa\.batch\.BatchConfig or None, got (str|int)"):
            call()
    assert [len(b) for b in dpa.stream_augmentation_chain_batched(10, None)] == [10]


# -- AugmentationConfig.from_dict and negative brightness ---------------------------------------
@pytest.mark.parametrize("field", ["rotation_range", "brightness_range", "noise_range", "scale_range", "contrast_range"])
def test_from_dict_with_a_range_of_none_names_the_field(field):
    with pytest.raises(TypeError, match=re.escape(f"{field} must be a pair (lo, hi) of real numbers, got None")):
        augment.AugmentationConfig.from_dict({field: None})
    with pytest.raises(TypeError, match=re.escape(f"{field} must be a pair (lo, hi) of real numbers, got 5")):
        augment.AugmentationConfig.from_dict({field: 5})


def test_from_dict_still_reads_json_lists():
    cfg = augment.AugmentationConfig.from_dict({"rotation_range": [-5, 5], "augmentation_depth": 3})
    assert cfg.rotation_range == (-5.0, 5.0) and cfg.augmentation_depth == 3
    assert augment.AugmentationConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("brightness_range", [(-1.0, 1.0), (-0.5, -0.1), [-1e-3, 2.0]])
def test_a_negative_brightness_range_is_refused(brightness_range):
    with pytest.raises(ValueError, match=r"brightness_range must have lo >= 0 \(brightness factors multiply pixels\)"):
        augment.AugmentationConfig(brightness_range=brightness_range)
    with pytest.raises(ValueError, match="brightness_range must have lo >= 0"):
        augment.AugmentationConfig.from_dict({"brightness_range": list(brightness_range)})
    assert augment.AugmentationConfig(brightness_range=(0.0, 1.0)).brightness_range == (0.0, 1.0)


def test_a_negative_brightness_factor_is_refused():
    images = np.full((2, 3, 3), 0.5, np.float32)
    with pytest.raises(ValueError, match=r"factor must be non-negative \(>= 0\), got -0\.5"):
        _ops.adjust_brightness(images, -0.5)
    with pytest.raises(ValueError, match=r"factor must be non-negative \(>= 0\), got -1"):
        _ops.adjust_brightness(images, np.array([1.0, -1.0], np.float32))
    assert float(np.asarray(_ops.adjust_brightness(images, 0.0)).max()) == 0.0
    batch = augment.gen_augmentation_batch(np.arange(2), seed=0)
    values = {n: np.asarray(batch[n]) for n in augment.PARAM_NAMES}
    values["brightness"] = np.array([1.0, -0.25], np.float32)
    bad = augment.AugmentationBatch(values, batch.sample_ids, seed=0, epoch=0, algorithm=None, config=None)
    with pytest.raises(ValueError, match=r"brightness must be non-negative \(>= 0\), got -0\.25"):
        _ops.apply_augmentations(images, bad)


# -- a truncated California housing CSV ---------------------------------------------------------
FULL = cal_csv()
FIXED = "".join(",".join(f"{v:.6f}" for v in row) + "\n" for row in CAL_ROWS).encode()  # the real file's form


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (FULL[:-3], r"truncated: the last line \(line 10\) has no line end"),  # 85800.0 -> 858000
        (FULL[:-10], r"truncated or corrupt: the last row \(line 10\) has 8 columns, line 9 has 9"),
        (FULL[: len(FULL) // 2], r"truncated: the last line \(line 5\) has no line end"),
        (FULL[:20], r"expected rows of 9 columns .*, got shape \(1, 4\)"),
        (FIXED[:-3], r"truncated: the last line \(line 10\) has no line end"),  # 85800.000000 -> 85800.0000
        (FIXED[:-8], r"truncated: the last line \(line 10\) has no line end"),  # -> 85800
    ],
    ids=["mid-number", "mid-row", "half", "first-row", "fixed-decimals", "fixed-integer"],
)
def test_a_truncated_california_csv_is_refused_naming_the_file(tmp_path, content, match):
    csv = tmp_path / "cal_housing.data"
    csv.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(str(csv)) + ": " + match):
        load_california_housing(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "cal_housing.tgz").write_bytes(cal_tgz(content))
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "a" / "cal_housing.tgz")) + ".*" + match):
        load_california_housing(tmp_path / "a")


@pytest.mark.parametrize(
    "content",
    [FULL, FIXED, FIXED[:-1], FIXED.replace(b"\n", b"\r\n")[:-2]],
    ids=["repr", "fixed", "fixed-no-final-newline", "crlf-no-final-newline"],
)
def test_a_complete_california_csv_is_read(tmp_path, content):
    (tmp_path / "cal_housing.data").write_bytes(content)
    X_tr, _, X_te, _, _ = load_california_housing(tmp_path, normalize=False)
    assert len(X_tr) + len(X_te) == len(CAL_ROWS)
