from collections import Counter

import numpy as np
import pytest

from flankit.data.collections import CollectionSpec
from flankit.data.mixtures import PRESETS, Mixture
from flankit.data.tasks import Example, Task
from flankit.data.templates import Template
from flankit.errors import FlankitError

TPL = (Template("t", "{question}", "{answer}"),)


def _tasks(collection, sizes):
    return [
        Task(
            f"{collection}_{i}",
            collection,
            [Example({"question": f"{collection}{i}-{j}", "answer": "a"}) for j in range(n)],
            TPL,
        )
        for i, n in enumerate(sizes)
    ]


@pytest.mark.slow
def test_rates_and_caps_on_a_long_stream():
    a = CollectionSpec(name="aa", rate=0.25, cap=100)
    b = CollectionSpec(name="bb", rate=0.75, cap=1000)
    mix = Mixture([(a, _tasks("aa", [50, 100, 400])), (b, _tasks("bb", [10, 990]))], seed=3)
    n = 200_000
    stream = mix.stream()
    counts = Counter(mix.tasks[next(stream).task].name for _ in range(n))
    # aa: weights min(n, 100) = 50, 100, 100 -> shares of 0.25: 0.05, 0.1, 0.1; bb: 10, 990 of 0.75
    expected = {"aa_0": 0.05, "aa_1": 0.10, "aa_2": 0.10, "bb_0": 0.0075, "bb_1": 0.7425}
    for name, share in expected.items():
        assert abs(counts[name] / n - share) < 4 * np.sqrt(share * (1 - share) / n) + 1e-4, name
    repeats = stream.repeats()
    assert repeats["aa_0"] == pytest.approx(counts["aa_0"] / 50)


def test_examples_proportional_without_rates_and_temperature():
    spec = CollectionSpec(name="cc", cap=10_000)
    tasks = _tasks("cc", [100, 900])
    mix = Mixture([(spec, tasks)])
    assert mix.probs.tolist() == pytest.approx([0.1, 0.9])
    hot = Mixture([(spec, tasks)], temperature=2.0)
    assert hot.probs.tolist() == pytest.approx([10 / 40, 30 / 40])


def test_presets_fill_rates_and_caps_by_role():
    m = CollectionSpec(name="m", role="muffin")
    c = CollectionSpec(name="c", role="cot")
    mix = Mixture([(m, _tasks("m", [50_000])), (c, _tasks("c", [10]))], preset="proportion_a")
    assert mix.collection_rates["m"] == pytest.approx(0.52 / 0.55)
    with pytest.raises(FlankitError, match="no role in preset"):
        Mixture([(CollectionSpec(name="x"), _tasks("x", [5]))], preset="flan2022")
    with pytest.raises(FlankitError, match="unknown mixture preset"):
        Mixture([(m, _tasks("m", [5]))], preset="proportion_c")
    assert set(PRESETS) == {"proportion_a", "proportion_b", "flan2022"}


def test_stream_state_restores_exactly():
    spec = CollectionSpec(name="dd", formats={"zsopt": 1, "fsopt": 1})
    mix = Mixture([(spec, _tasks("dd", [3, 7, 11]))], seed=5)
    s = mix.stream()
    for _ in range(5000 + 123):
        next(s)
    state = s.state()
    tail = [next(s) for _ in range(9000)]
    resumed = mix.stream(state=state)
    assert [next(resumed) for _ in range(9000)] == tail
    assert any(r.epoch > 0 for r in tail)


def test_state_from_another_mixture_is_refused():
    mix = Mixture([(CollectionSpec(name="ee"), _tasks("ee", [3]))])
    other = Mixture([(CollectionSpec(name="ee"), _tasks("ee", [4]))])
    state = mix.stream().state()
    with pytest.raises(FlankitError, match="different mixture"):
        other.stream(state=state)


def test_each_epoch_visits_every_example_once():
    mix = Mixture([(CollectionSpec(name="ff"), _tasks("ff", [5]))])
    s = mix.stream()
    refs = [next(s) for _ in range(15)]
    for e in range(3):
        assert sorted(r.index for r in refs if r.epoch == e) == list(range(5))


def test_every_example_once():
    mix = Mixture([(CollectionSpec(name="gg", cap=2), _tasks("gg", [4, 9]))], seed=1)
    refs = list(mix.every_example_once())
    assert sorted((r.task, r.index) for r in refs) == [(0, i) for i in range(4)] + [
        (1, i) for i in range(9)
    ]


def test_variants_follow_format_weights_and_cot_rate():
    rows = [Example({"question": f"q{j}", "answer": "a", "rationale": "r"}) for j in range(4000)]
    task = Task(
        "h", "hh", rows, TPL + (Template("c", "{question}", "{rationale} {answer}", kind="cot"),)
    )
    spec = CollectionSpec(name="hh", formats={"zsopt": 3, "fsnoopt": 1}, cot=0.5)
    mix = Mixture([(spec, [task])])
    variants = [mix.variant(0, i, 0) for i in range(4000)]
    share_zs = sum(v.format == "zsopt" for v in variants) / 4000
    share_cot = sum(v.cot for v in variants) / 4000
    assert abs(share_zs - 0.75) < 0.03 and abs(share_cot - 0.5) < 0.03
    assert {v.format for v in variants} == {"zsopt", "fsnoopt"}
