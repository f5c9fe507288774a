"""Typed configs: frozen dataclasses filled from YAML plus `a.b=value` overrides.

Unknown keys and wrong types fail with a FlankitError naming the key and, where one exists,
the closest valid key. A config class can name, in a class attribute `OTHER_COMMANDS_KEYS`
({key: "`flankit train`, not by `flankit data build`"}), the keys another command uses (dotted
keys such as `data.output` too), so a key put in the wrong file is refused with the command it
belongs to; in `MOVED_KEYS` ({old key: new key}) the keys that were renamed, so an old
config is refused with the name to use; and in `EXCLUSIVE_KEYS` ({key: (reason, other keys)})
the keys that may not be written next to a key set to a value.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Opt:
    ...     lr: float = 1e-3
    >>> from_dict(Opt, {"lr": "5e-4"}).lr
    0.0005
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

import yaml

from flankit.errors import FlankitError, suggest

T = TypeVar("T")


def load_config(cls: type[T], path: str | Path | None, overrides: list[str] = ()) -> T:
    """Read a YAML file (or nothing), apply `a.b=value` overrides, and build `cls`.

    A relative `path:` of a collection in the file is relative to the file's folder. An error
    that a command-line override brings in names the override, not the file.
    """
    data: dict[str, Any] = {}
    source = str(path) if path else "<defaults>"
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise FlankitError(f"cannot read config: {exc.strerror}", file=source) from exc
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark else None
            raise FlankitError(f"invalid YAML: {exc}", file=source, line=line) from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise FlankitError("a config file must hold a mapping at the top", file=source)
        data = loaded or {}
        anchor_collection_paths(data, Path(path).parent)
    if not overrides:
        return from_dict(cls, data, where=source)
    file_ok = _builds(cls, data, source)
    for item in overrides:
        apply_override(data, item)
        if file_ok:  # the file alone was fine: a failure now is this override's
            from_dict(cls, copy.deepcopy(data), where=f"override {item}")
    return from_dict(cls, data, where=source)


def _builds(cls: type, data: dict, source: str) -> bool:
    try:
        from_dict(cls, copy.deepcopy(data), where=source)
    except FlankitError:
        return False
    return True


def anchor_collection_paths(data: Any, folder: Path) -> None:
    """Make each relative `path:` under a `collections:` list relative to `folder` (the config
    file's), wherever the list sits (a data config, or `data:` / `heldout:` of a training one)."""
    if isinstance(data, list):
        for v in data:
            anchor_collection_paths(v, folder)
        return
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        if key in ("collections", "heldout") and isinstance(value, list):
            for c in value:
                p = c.get("path") if isinstance(c, dict) else None
                if isinstance(p, str) and p and not Path(p).expanduser().is_absolute():
                    c["path"] = str(folder / p)
        anchor_collection_paths(value, folder)


def apply_override(data: dict[str, Any], item: str) -> None:
    """Set `a.b.c=value` in a nested dict; the value is parsed as YAML (`x=3` gives an int)."""
    if "=" not in item:
        raise FlankitError(f"override {item!r} must look like key.sub=value")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError as exc:
        raise FlankitError(f"override {item!r}: value is not valid YAML: {exc}") from exc
    node = data
    parts = key.strip().split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def from_dict(cls: type[T], data: Any, where: str = "<config>", prefix: str = "") -> T:
    """Build dataclass `cls` from plain data, checking every key and type."""
    if not isinstance(data, dict):
        raise FlankitError(f"expected a mapping for {prefix or cls.__name__}", file=where)
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if not prefix:
        refuse_elsewhere(cls, data, where)
    for key in data:
        if key not in fields:
            hint = suggest(key, fields, prefix=prefix, otherwise=f"known keys: {', '.join(fields)}")
            raise FlankitError(f"unknown config key {prefix}{key}", file=where, hint=hint)
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, where, f"{prefix}{name}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise FlankitError(f"{prefix or cls.__name__}: {exc}", file=where) from exc
    except FlankitError as exc:  # a check of the config's own (__post_init__): say where
        if exc.file is None:
            exc.file = where
            exc.args = (exc._render(),)
        raise


def refuse_elsewhere(cls: type, data: dict, where: str) -> None:
    """Refuse a key (dotted keys too) that `cls` lists as another command's or as moved."""
    fields = {f.name for f in dataclasses.fields(cls)}
    moved = getattr(cls, "MOVED_KEYS", {})
    for key, owner in getattr(cls, "OTHER_COMMANDS_KEYS", {}).items():
        if key not in fields and _holds(data, key):
            raise FlankitError(f"{key} is used by {owner}", file=where, field=key)
    for key, new in moved.items():
        if key not in fields and _holds(data, key):
            raise FlankitError(
                f"{key} was renamed: use {new}", file=where, field=key, hint=f"write {new} instead"
            )
    for key, (reason, others) in getattr(cls, "EXCLUSIVE_KEYS", {}).items():
        if _holds(data, key) and _at(data, key) is not None:
            for other in others:
                if _holds(data, other):
                    raise FlankitError(f"{other} is set, but {reason}", file=where, field=other)


def _at(data: dict, key: str) -> Any:
    for part in key.split("."):
        data = data[part]
    return data


def _holds(data: Any, key: str) -> bool:
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def to_dict(obj: Any) -> Any:
    """The plain-data form of a config tree (for stats files and model cards)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def _coerce(tp: Any, value: Any, where: str, key: str) -> Any:
    """`value` checked against (and converted to) type `tp`; errors name `key`."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(get_args(tp), value, where, key)
    if origin is Literal:
        if value not in get_args(tp):
            choices = ", ".join(map(repr, get_args(tp)))
            raise FlankitError(f"config key {key}: {value!r} is not one of {choices}", file=where)
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value if value is not None else {}, where, prefix=f"{key}.")
    if origin in (list, tuple, dict):
        return _coerce_container(tp, value, where, key)
    scalar = _SCALARS.get(tp)
    return scalar(value, where, key) if scalar else value


def _coerce_union(args: tuple, value: Any, where: str, key: str) -> Any:
    if value is None and type(None) in args:
        return None
    errors = []
    for arg in args:
        if arg is type(None):
            continue
        try:
            return _coerce(arg, value, where, key)
        except FlankitError as exc:
            errors.append(exc.message)
    raise FlankitError(f"config key {key}: {errors[-1] if errors else 'bad value'}", file=where)


def _coerce_container(tp: Any, value: Any, where: str, key: str) -> Any:
    origin, args = get_origin(tp), get_args(tp)
    if origin is dict:
        if not isinstance(value, dict):
            raise FlankitError(f"config key {key}: expected a mapping, got {value!r}", file=where)
        val_tp = args[1] if len(args) == 2 else Any
        return {k: _coerce(val_tp, v, where, f"{key}.{k}") for k, v in value.items()}
    if not isinstance(value, (list, tuple)):
        raise FlankitError(f"config key {key}: expected a list, got {value!r}", file=where)
    item_tp = args[0] if args else Any
    items = [_coerce(item_tp, v, where, f"{key}[{i}]") for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items


def _bool(value: Any, where: str, key: str) -> bool:
    if isinstance(value, bool):
        return value
    raise FlankitError(f"config key {key}: expected true/false, got {value!r}", file=where)


def _int(value: Any, where: str, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise FlankitError(f"config key {key}: expected an integer, got {value!r}", file=where)


def _float(value: Any, where: str, key: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise FlankitError(f"config key {key}: expected a number, got {value!r}", file=where)


def _str(value: Any, where: str, key: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise FlankitError(f"config key {key}: expected a string, got {value!r}", file=where)


_SCALARS = {bool: _bool, int: _int, float: _float, str: _str}
