"""The one did-you-mean hint every unknown name gets (config keys, CLI choices, steps, tasks)."""

from flankit.errors import suggest


def test_the_closest_choice_is_suggested_else_every_choice_is_listed():
    assert suggest("stepz", ["steps", "seed", "batch_size"]) == "did you mean steps?"
    assert suggest("qqq", ["steps", "seed"]) == "choose from steps, seed"


def test_prefix_count_and_fallback():
    assert suggest("lrr", ["lr", "seed"], prefix="optim.") == "did you mean optim.lr?"
    names = ["cot_gsm8k", "cot_aqua", "bb_x", "cot_qasc"]
    assert suggest("cot_gsm8", names, n=3) == "did you mean cot_gsm8k, cot_qasc?"
    assert suggest("cot_gsm8", names) == "did you mean cot_gsm8k?"
    assert suggest("zzz", ["cot_aqua"], otherwise="see `flankit data ls`") == (
        "see `flankit data ls`"
    )
    assert suggest(3, {"a": 1, "3x": 2}) == "did you mean 3x?"  # keys of any type, any iterable
