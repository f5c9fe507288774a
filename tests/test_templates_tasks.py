import pytest

from flankit.data.tasks import Example, Task, Variant, render_example
from flankit.data.templates import Template, parse_templates
from flankit.errors import FlankitError


def _task(n=8, options=False, rationale=False, **kw):
    rows = []
    for i in range(n):
        f = {"question": f"q{i} " + "word " * 3, "answer": f"a{i}"}
        if options:
            f["options"] = [f"a{i}", "other"]
        if rationale:
            f["rationale"] = f"because {i}"
        rows.append(Example(f, f"mem:{i}"))
    templates = (
        (
            Template("d0", "{question}", "{answer}"),
            Template("d1", "Q: {question}", "{answer}"),
            Template("c0", "{question} Think.", "{rationale} So {answer}.", kind="cot"),
            Template("i0", "Answer {answer}; why {rationale}?", "{question}", kind="inverted"),
        )
        if rationale
        else (Template("d0", "{question}", "{answer}"), Template("d1", "Q: {question}", "{answer}"))
    )
    return Task("toy", "demo", rows, templates, **kw)


def test_template_rejects_unknown_field_and_attribute_access():
    with pytest.raises(FlankitError) as err:
        _t = Task(
            "t",
            "c",
            [Example({"question": "x", "answer": "y"})],
            (Template("t0", "{qestion}", "{answer}"),),
        )
    assert "field qestion" in str(err.value) and "task t" in str(err.value)
    with pytest.raises(FlankitError, match="plain name"):
        Template.parse({"id": "x", "inputs": "{question.__class__}", "targets": "{answer}"})
    with pytest.raises(FlankitError, match="duplicate template id"):
        parse_templates(
            [{"id": "a", "inputs": "{q}", "targets": "{a}"}] * 2, where="f.yaml", task="t"
        )


def test_render_is_deterministic_and_varies_with_seed():
    task = _task(20, options=True)
    a = [render_example(task, i, Variant("fsopt"), seed=1) for i in range(20)]
    b = [render_example(task, i, Variant("fsopt"), seed=1) for i in range(20)]
    c = [render_example(task, i, Variant("fsopt"), seed=2) for i in range(20)]
    assert a == b and a != c


def test_options_present_only_in_opt_formats():
    task = _task(4, options=True)
    for i in range(4):
        zs = render_example(task, i, Variant("zsopt"), seed=0)
        no = render_example(task, i, Variant("zsnoopt"), seed=0)
        assert "other" in zs.inputs and "other" not in no.inputs
        assert no.targets == f"a{i}"
        # Lettered option styles make the target the letter; bullet styles keep the text.
        assert zs.targets in (f"a{i}", "(A)", "a)", "(1)")


def test_fewshot_exemplars_are_from_task_and_never_the_example_itself():
    task = _task(6)
    for i in range(6):
        r = render_example(task, i, Variant("fsnoopt"), seed=3, max_shots=5)
        assert r.shots >= 1
        assert r.inputs.count(f"q{i} ") == 1  # the query only
        assert r.inputs.rstrip().endswith(("word", "A:", "Answer:", "Output:", "Solution:"))


def test_fewshot_budget_prunes_and_falls_back_to_zero_shot():
    task = _task(6)
    r = render_example(task, 0, Variant("fsnoopt"), seed=0, fewshot_budget=10)
    assert r.shots == 0 and r.inputs.startswith(("q0", "Q: q0"))
    single = _task(1)
    assert render_example(single, 0, Variant("fsnoopt")).shots == 0


def test_cot_and_inversion_templates():
    task = _task(5, rationale=True)
    cot = render_example(task, 2, Variant("zsopt", cot=True), seed=0)
    assert cot.template == "c0" and cot.targets == "because 2 So a2."
    inv = render_example(task, 2, Variant("zsopt", inverted=True), seed=0)
    assert inv.template == "i0" and inv.targets.startswith("q2") and "a2" in inv.inputs


def test_fixed_exemplars_are_used_and_capped():
    task = _task(
        5,
        exemplars=[Example({"question": f"pos{j}", "answer": "p"}) for j in range(4)],
        max_exemplars=2,
    )
    for i in range(5):
        r = render_example(task, i, Variant("fsopt"), seed=i)
        assert 1 <= r.shots <= 2 and "pos" in r.inputs


def test_unknown_format_is_an_error():
    with pytest.raises(FlankitError, match="unknown format"):
        Variant("fewshot")
