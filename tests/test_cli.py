"""The command line as a user meets it: every README command parses as printed, options and
overrides in any order, help texts, and one flankit line (never a traceback) for mistakes."""

import argparse
import shlex
from pathlib import Path

import pytest

from flankit.cli import build_parser, main, parse_args
from flankit.config import load_config

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[list[str]]:
    """Every `flankit ...` (or `... -m flankit.cli ...`) line of the README's code blocks, as
    the arguments after the program name, comments removed."""
    commands, fence = [], None  # fence: the open code block's language, None outside blocks
    text = (REPO / "README.md").read_text(encoding="utf-8").replace("\\\n", " ")
    for line in text.splitlines():  # a command continued with a trailing backslash is one line
        if line.startswith("```"):
            fence = line[3:].strip() if fence is None else None
            continue
        if fence not in ("bash", "sh", "") or "flankit" not in line:
            continue
        words = shlex.split(line, comments=True)
        for i, word in enumerate(words):
            if word == "flankit" or (word == "flankit.cli" and i and words[i - 1] == "-m"):
                commands.append(words[i + 1 :])
                break
    return commands


COMMANDS = readme_commands()


def test_readme_has_commands_of_every_verb():
    verbs = {c[0] for c in COMMANDS if c}
    assert {"quickstart", "data", "train", "eval", "generate", "sweep", "report"} <= verbs


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c)[:60] for c in COMMANDS])
def test_readme_command_parses_as_printed(argv):
    args = parse_args(build_parser(), argv)  # argparse exits (SystemExit) on anything unknown
    assert getattr(args, "func", None) is not None
    if getattr(args, "config", None) and hasattr(args, "overrides"):
        # The config with the line's overrides builds (a bad key or value would fail here).
        config = Path(args.config)
        assert config.exists(), args.config
        if args.verb == "sweep":
            from flankit.sweep import load_sweep_config

            load_sweep_config(str(config), args.overrides)
        else:
            cls = _config_class(args)
            cfg = load_config(cls, config, args.overrides)
            for item in args.overrides:
                key, value = item.split("=", 1)
                node = cfg
                for part in key.split("."):
                    node = getattr(node, part)
                assert str(node) == value or node == float(value), item


def _config_class(args):
    if args.verb == "train":
        from flankit.train.loop import TrainConfig

        return TrainConfig
    if args.verb == "eval":
        from flankit.evals.jobs import EvalJob

        return EvalJob
    from flankit.data.build import DataConfig

    return DataConfig


CHEAP = {("data", "ls"), ("data", "show")}


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [c for c in COMMANDS if tuple(c[:2]) in CHEAP],
    ids=lambda c: " ".join(c)[:60],
)
def test_cheap_readme_commands_run(argv, shared, monkeypatch, capsys):
    monkeypatch.setenv("FLANKIT_DATA", str(shared))
    assert main(argv) == 0
    assert capsys.readouterr().out.strip()


@pytest.mark.parametrize(
    "argv",
    [
        ["data", "build", "c.yaml", "--out", "o", "mixture.num_examples=20000"],
        ["data", "build", "c.yaml", "mixture.num_examples=20000", "--out", "o", "seed=1"],
        ["train", "c.yaml", "--resume", "steps=110"],
        ["train", "--resume", "c.yaml", "steps=110", "-q", "optim.lr=1e-3"],
        ["sweep", "-q", "c.yaml", "steps=5"],
    ],
)
def test_overrides_and_options_in_any_order(argv):
    args = parse_args(build_parser(), argv)
    assert args.config == "c.yaml"
    assert [o for o in argv if "=" in o] == args.overrides


def test_override_where_a_command_takes_none_is_refused(capsys):
    with pytest.raises(SystemExit):
        parse_args(build_parser(), ["generate", "--model", "m", "hi", "steps=3"])
    assert "unrecognized arguments: steps=3" in capsys.readouterr().err


def _sub_parsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                for inner_name, inner in _sub_parsers(sub):
                    yield f"{name} {inner_name}", inner


def test_every_command_and_option_is_described_with_its_default():
    subs = list(_sub_parsers(build_parser()))
    assert len(subs) >= 9
    for name, sub in subs:
        assert sub.description and len(sub.description) > 20, name
        text = sub.format_help()
        for action in sub._actions:
            assert action.help, f"{name}: {action.dest} has no help"
            shown = not any(action.default is x for x in (None, False, argparse.SUPPRESS))
            if action.option_strings and shown and not isinstance(action, argparse._HelpAction):
                assert f"(default: {action.default})" in " ".join(text.split()), (name, action)


def _one_line_error(capsys, argv) -> str:
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if x.startswith("flankit: error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.slow
def test_missing_local_model_is_a_local_error(tmp_path, capsys, shared, monkeypatch):
    monkeypatch.setenv("FLANKIT_DATA", str(shared))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    line = _one_line_error(
        capsys,
        ["eval", "--model", "runs/does_not_exist/final", "--benchmarks", "bbh", "--out", "o"],
    )
    assert "model folder not found: runs/does_not_exist/final" in line
    # `runs/nope` could be a hub id, but there is a local runs/ folder: it is a path.
    line = _one_line_error(capsys, ["generate", "--model", "runs/nope", "hello"])
    assert "model folder not found: runs/nope" in line


def test_hub_id_without_network_names_the_offline_setting(capsys, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    line = _one_line_error(capsys, ["generate", "--model", "no-such-org/no-such-model", "hi"])
    assert "cannot reach the model hub" in line and "HF_HUB_OFFLINE=1" in line
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    line = _one_line_error(capsys, ["generate", "--model", "no-such-org/no-such-model", "hi"])
    assert "not in the local hub cache" in line


def test_unknown_benchmark_and_mode_suggest_the_closest(capsys):
    line = _one_line_error(capsys, ["eval", "--model", "m", "--benchmarks", "bbhh", "--out", "o"])
    assert "unknown benchmark 'bbhh'" in line and "did you mean bbh?" in line
    line = _one_line_error(capsys, ["eval", "--model", "m", "--modes", "cott", "--out", "o"])
    assert "did you mean cot?" in line


def test_override_errors_name_the_override_not_the_file(capsys):
    cfg = str(REPO / "configs/train/tiny_cpu.yaml")
    line = _one_line_error(capsys, ["train", cfg, "steps=abc"])
    assert "override steps=abc" in line and "expected an integer" in line
    assert "tiny_cpu.yaml" not in line
    line = _one_line_error(capsys, ["train", cfg, "--resume", "stepz=3"])
    assert "override stepz=3" in line and "did you mean steps?" in line


def test_a_bad_config_file_still_names_the_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: many\n")
    line = _one_line_error(capsys, ["train", str(bad), "batch_size=2"])
    assert str(bad) in line and "config key steps" in line


def test_unexpected_failure_is_one_line_and_debug_shows_the_traceback(capsys, monkeypatch):
    import flankit.data.collections as collections

    def boom(*a, **k):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(collections, "load_collection", boom)
    line = _one_line_error(capsys, ["data", "ls", "cot"])
    assert "data ls failed: RuntimeError: disk on fire" in line and "--debug" in line
    assert main(["--debug", "data", "ls", "cot"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "disk on fire" in err.splitlines()[-1]
    assert main(["data", "ls", "cot", "--debug"]) == 2  # after the command too
    assert "Traceback" in capsys.readouterr().err


def test_missing_file_and_missing_package_say_what_to_do(capsys, monkeypatch):
    line = _one_line_error(capsys, ["train", "no/such/config.yaml"])
    assert "no/such/config.yaml" in line
    import flankit.cli as cli

    def needs(*a, **k):
        raise ModuleNotFoundError("No module named 'vllm'", name="vllm")

    monkeypatch.setattr(cli, "_sweep", needs)
    line = _one_line_error(capsys, ["sweep", "x.yaml"])
    assert "pip install vllm" in line


def test_data_ls_unknown_collection_fails(capsys):
    line = _one_line_error(capsys, ["data", "ls", "NO_SUCH_COLLECTION"])
    assert "unknown collection 'NO_SUCH_COLLECTION'" in line
    line = _one_line_error(capsys, ["data", "ls", "bigbenhc"])
    assert "did you mean bigbench?" in line


USER_COLLECTION = """
name: mine
tasks:
  - name: capitals
    source: {format: jsonl, path: capitals.jsonl, fields: {question: q, answer: a}}
    templates:
      - {id: t0, inputs: "Capital of {question}?", targets: "{answer}"}
"""


def _user_collection(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mine.yaml").write_text(USER_COLLECTION)
    (folder / "capitals.jsonl").write_text(
        '{"q": "France", "a": "Paris"}\n{"q": "Peru"}\n{"q": "Chile", "a": "Santiago"}\n'
    )
    return folder / "mine.yaml"


def test_data_ls_names_the_skipped_rows(tmp_path, capsys):
    path = _user_collection(tmp_path / "c")
    assert main(["data", "ls", "mine", "--path", str(path)]) == 0
    out = capsys.readouterr().out
    assert "mine: 1 tasks, 2 examples, 1 bad rows skipped" in out
    skipped = [x for x in out.splitlines() if x.strip().startswith("skipped:")]
    assert len(skipped) == 1 and "capitals.jsonl:2" in skipped[0], out


def test_collection_path_is_relative_to_the_config_naming_it(tmp_path, monkeypatch):
    from flankit.data.build import DataConfig, load_mixture

    _user_collection(tmp_path / "configs" / "data")
    config = tmp_path / "configs" / "data" / "mix.yaml"
    config.write_text("collections:\n  - {name: mine, path: mine.yaml}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(DataConfig, config, ["skip_bad_rows=true"])
    assert Path(cfg.collections[0].path) == tmp_path / "configs" / "data" / "mine.yaml"
    mix, report = load_mixture(cfg)
    assert [t.name for t in mix.tasks] == ["capitals"] and report.bad.total == 1
    # A path given on the command line is the user's: relative to where they are.
    cfg = load_config(DataConfig, config, ["collections=[{name: mine, path: x.yaml}]"])
    assert cfg.collections[0].path == "x.yaml"
