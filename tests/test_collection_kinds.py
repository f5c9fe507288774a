import sys
import types

import pytest

import flankit.data.collections as collections
from flankit.data.collections import CollectionSpec, find_task, load_collection
from flankit.data.sources import BadRows
from flankit.data.tasks import Example, Task
from flankit.data.templates import Template
from flankit.errors import FlankitError


def test_a_registered_kind_loads_through_a_config_with_steps(monkeypatch):
    toy = types.ModuleType("toy_kind")

    def load(spec, root, bad):
        rows = [
            Example({"q": f"{i}?", "options": ["a", "b"], "label": str(i % 3)}, f"toy:{i}")
            for i in range(4)
        ]
        return [
            Task(
                "toy_t",
                spec.name,
                rows,
                (Template("t", "{q}", "{q}"),),
            )
        ]

    toy.load, toy.names = load, lambda spec, root: ["toy_t"]
    monkeypatch.setitem(sys.modules, "toy_kind", toy)
    monkeypatch.setitem(collections.KINDS, "toy", "toy_kind")
    bad = BadRows(skip=True)
    (task,) = load_collection(CollectionSpec(name="toy", preprocess=["label_to_option"]), bad=bad)
    assert [e.fields["answer"] for e in task.examples] == ["a", "b", "a"]
    assert bad.counts == {"toy_t": 1} and "label 2 is outside" in bad.samples[0]
    assert "collection toy" in bad.samples[0] and "toy:2" in bad.samples[0]
    with pytest.raises(FlankitError, match="field label"):
        load_collection(CollectionSpec(name="toy", preprocess=["label_to_option"]), bad=BadRows())
    assert find_task("toy/toy_t").name == "toy_t"


def test_a_skipping_step_is_counted_and_an_unknown_step_suggested():
    spec = CollectionSpec(
        name="synthetic", examples_per_task=5, preprocess=["skip_answer_not_in_options"]
    )
    bad = BadRows()
    load_collection(spec, bad=bad)
    assert all(":" in k for k in bad.filtered)
    with pytest.raises(FlankitError, match="did you mean strip_text"):
        load_collection(CollectionSpec(name="synthetic", preprocess=["strip_txt"]))
