import numpy as np
import pytest

from flankit.data.features import decoder_rows, encdec_rows, truncate
from flankit.data.packing import BestFitPacker


def test_best_fit_respects_capacity_and_places_each_example_once():
    rng = np.random.default_rng(0)
    lengths = [
        (int(a), int(b)) for a, b in zip(rng.integers(1, 300, 5000), rng.integers(1, 60, 5000))
    ]
    p = BestFitPacker((512, 128), buffer_size=1000)
    rows = p.add_many(lengths) + p.finish()
    placed = sorted(i for r in rows for i in r)
    assert placed == list(range(5000))
    for r in rows:
        assert sum(lengths[i][0] for i in r) <= 512 and sum(lengths[i][1] for i in r) <= 128
    eff = max(
        sum(a for a, _ in lengths) / (512 * len(rows)),
        sum(b for _, b in lengths) / (128 * len(rows)),
    )
    assert eff > 0.95


def test_one_dimension_is_nearly_perfect():
    rng = np.random.default_rng(1)
    lengths = [(int(x),) for x in np.minimum(rng.lognormal(4, 1, 20000).astype(int) + 2, 1024)]
    p = BestFitPacker((1024,))
    rows = p.add_many(lengths) + p.finish()
    assert sum(x for (x,) in lengths) / (1024 * len(rows)) > 0.99


def test_encdec_rows_shift_targets_per_segment():
    rows = encdec_rows(
        [[([11, 12, 1], [21, 22, 1]), ([13, 1], [23, 1])]], 8, 6, pad_id=0, start_id=0
    )
    assert rows["encoder_input_ids"][0].tolist() == [11, 12, 1, 13, 1, 0, 0, 0]
    assert rows["encoder_segment_ids"][0].tolist() == [1, 1, 1, 2, 2, 0, 0, 0]
    assert rows["encoder_positions"][0].tolist() == [0, 1, 2, 0, 1, 0, 0, 0]
    assert rows["decoder_target_ids"][0].tolist() == [21, 22, 1, 23, 1, 0]
    assert rows["decoder_input_ids"][0].tolist() == [0, 21, 22, 0, 23, 0]
    assert rows["decoder_segment_ids"][0].tolist() == [1, 1, 1, 2, 2, 0]
    assert rows["decoder_positions"][0].tolist() == [0, 1, 2, 0, 1, 0]


def test_decoder_rows_mask_only_targets():
    rows = decoder_rows([[([5, 6], [7, 2]), ([8], [9, 2])]], 8, pad_id=0)
    assert rows["input_ids"][0].tolist() == [5, 6, 7, 2, 8, 9, 2, 0]
    assert rows["loss_mask"][0].tolist() == [0, 0, 1, 1, 0, 1, 1, 0]
    assert rows["segment_ids"][0].tolist() == [1, 1, 1, 1, 2, 2, 2, 0]
    assert rows["positions"][0].tolist() == [0, 1, 2, 3, 0, 1, 2, 0]


def test_truncate_keeps_eos_or_the_end():
    assert truncate([1, 2, 3, 4, 9], 3, 9) == ([1, 2, 9], 2)
    assert truncate([1, 2, 3, 4], 2, None, keep="end") == ([3, 4], 2)
    assert truncate([1, 2], 5, 9) == ([1, 2], 0)
    # No room left: nothing is kept, from either end.
    assert truncate([1, 2, 3], 0, None, keep="end") == ([], 3)
    assert truncate([1, 2, 9], 0, 9) == ([], 3)


def test_decoder_target_that_fills_the_row_leaves_no_prompt():
    from flankit.family import family_named

    decoder = family_named("decoder")
    inp, tgt, di, dt = decoder.fit_example([5, 6, 7], list(range(10, 18)) + [1], (8,), 1)
    assert (inp, di) == ([], 3) and len(tgt) == 8 and tgt[-1] == 1 and dt == 1
    rows = decoder_rows([[(inp, tgt)]], 8, pad_id=0)  # fits its row exactly
    assert rows["loss_mask"][0].tolist() == [1] * 8


def test_feature_arrays_of_many_rows_match_row_by_row_and_refuse_overflow():
    # Arrays are built for all rows at once; each row must equal the row built on its own
    # (pad values, segments, shifts and masks stay inside the row), and a row longer than
    # its length is an error, not a spill into the next row.
    rng = np.random.default_rng(2)
    rows = [
        [
            (rng.integers(3, 99, rng.integers(1, 9)).tolist(), rng.integers(3, 99, 3).tolist())
            for _ in range(rng.integers(1, 4))
        ]
        for _ in range(40)
    ]
    many = encdec_rows(rows, 32, 12, pad_id=2, start_id=1)
    flat = decoder_rows(rows, 40, pad_id=2)
    for r, row in enumerate(rows):
        one = encdec_rows([row], 32, 12, pad_id=2, start_id=1)
        assert all(many[k][r].tolist() == one[k][0].tolist() for k in many)
        one = decoder_rows([row], 40, pad_id=2)
        assert all(flat[k][r].tolist() == one[k][0].tolist() for k in flat)
        assert flat["loss_mask"][r].sum() == 3 * len(row)
    with pytest.raises(ValueError, match="more than 4"):
        encdec_rows([[([5, 6, 7], [1]), ([8, 9], [1])]], 4, 4, pad_id=0, start_id=0)
