from dataclasses import dataclass, field
from typing import Literal

import pytest

from flankit.config import apply_override, from_dict, load_config
from flankit.errors import FlankitError


@dataclass(frozen=True)
class Inner:
    lr: float = 1e-3
    name: str = "x"


@dataclass(frozen=True)
class Outer:
    inner: Inner = field(default_factory=Inner)
    steps: int = 10
    mode: Literal["a", "b"] = "a"
    tags: list[str] = field(default_factory=list)
    limit: int | None = None


def test_nested_values_and_types():
    cfg = from_dict(Outer, {"inner": {"lr": "5e-4"}, "steps": 3, "tags": ["p"], "limit": None})
    assert cfg.inner.lr == 5e-4 and cfg.steps == 3 and cfg.tags == ["p"] and cfg.limit is None


def test_unknown_key_names_key_and_close_match():
    with pytest.raises(FlankitError) as err:
        from_dict(Outer, {"inner": {"lrr": 1.0}})
    assert "inner.lrr" in str(err.value) and "inner.lr" in str(err.value)


@pytest.mark.parametrize(
    "data, words",
    [
        ({"steps": "ten"}, "steps: expected an integer"),
        ({"steps": True}, "steps: expected an integer"),
        ({"mode": "c"}, "mode: 'c' is not one of"),
        ({"tags": "p"}, "tags: expected a list"),
    ],
)
def test_wrong_type_is_named(data, words):
    with pytest.raises(FlankitError, match=words):
        from_dict(Outer, data)


def test_yaml_file_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: 4\ninner:\n  name: y\n")
    cfg = load_config(Outer, path, ["inner.lr=0.5", "mode=b", "limit=7"])
    assert (cfg.steps, cfg.inner.name, cfg.inner.lr, cfg.mode, cfg.limit) == (4, "y", 0.5, "b", 7)


def test_bad_yaml_and_missing_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("steps: [1,\n")
    with pytest.raises(FlankitError, match="bad.yaml"):
        load_config(Outer, path)
    with pytest.raises(FlankitError, match="cannot read config"):
        load_config(Outer, tmp_path / "nope.yaml")


def test_override_needs_equals():
    with pytest.raises(FlankitError, match="key.sub=value"):
        apply_override({}, "steps")
