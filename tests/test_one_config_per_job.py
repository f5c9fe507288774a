"""One config per job: every key a command reads is used by it; a key of another command, or an
old name, is refused with the key to use; one seed drives data order (and, for training,
initialisation) unless `mixture.seed` sets the order apart; a build that disagrees with the
training run is refused, naming the key."""

from dataclasses import replace

import pytest

from flankit.config import load_config
from flankit.data.build import DataConfig, build, load_mixture, resolve
from flankit.data.built import check_build, open_build
from flankit.data.mixtures import data_seed
from flankit.errors import FlankitError
from flankit.tokenizer import load_tokenizer
from flankit.train.data import run_data, run_features
from flankit.train.loop import TrainConfig, train

BUILD_ONLY = "used by `flankit data build`, not by `flankit train`"


@pytest.mark.parametrize(
    "override,message",
    [
        ("data.output.format=parquet", f"data.output is {BUILD_ONLY}"),
        ("data.num_proc=1", f"data.num_proc is {BUILD_ONLY}"),  # even at the build's default
        ("data.batch_size=8", f"data.batch_size is {BUILD_ONLY}"),
        ("data.features.pack=false", f"data.features.pack is {BUILD_ONLY}"),
        ("data.features.rows_per_shard=5", f"data.features.rows_per_shard is {BUILD_ONLY}"),
        ("data.chunk_examples=64", f"data.chunk_examples is {BUILD_ONLY}"),
        ("output.format=parquet", f"output is {BUILD_ONLY}"),
        ("built=runs/b", f"built is {BUILD_ONLY}"),
        (
            "features.length=64",
            "features is used by `flankit data build` (and by `flankit train` as",
        ),
        ("tokenizer_vocab=300", "tokenizer_vocab was renamed: use vocab_size"),
        (
            "data.features.tokenizer=byt5",
            "data.features.tokenizer was renamed: use model.tokenizer",
        ),
        ("data.features.vocab_size=300", "data.features.vocab_size was renamed: use vocab_size"),
        ("data.seed=3", "data.seed was renamed: use seed"),
        ("data.features.lenght=64", "unknown config key data.features.lenght"),
    ],
)
def test_train_refuses_a_key_it_does_not_use(override, message):
    with pytest.raises(FlankitError, match=f"override {override}") as err:
        load_config(TrainConfig, None, [override])
    assert message in str(err.value)


@pytest.mark.parametrize(
    "model", ["model.path=google/flan-t5-small", "model.tokenizer=byt5", "data.built=runs/b"]
)
def test_vocab_size_without_a_tokenizer_to_train_is_refused(model):
    with pytest.raises(FlankitError, match="vocab_size is used only when a run trains its"):
        load_config(TrainConfig, None, [model, "vocab_size=300"])
    assert load_config(TrainConfig, None, ["vocab_size=300"]).vocab_size == 300


@pytest.mark.parametrize(
    "override,message",
    [
        ("steps=3", "steps is used by `flankit train`, not by `flankit data build`"),
        ("model.shape=t5-tiny", "model is used by `flankit train`, not by `flankit data build`"),
        ("built=runs/b", "built is used by `flankit train` (as data.built)"),
        (
            "vocab_size=300",
            "vocab_size is used by `flankit train`; a build's is features.vocab_size",
        ),
        ("tokenizer_vocab=300", "tokenizer_vocab was renamed: use features.vocab_size"),
        (
            "features.rows_per_shard=9",
            "features.rows_per_shard was renamed: use output.rows_per_shard",
        ),
        ("output.shard=9", "unknown config key output.shard"),
    ],
)
def test_data_build_refuses_a_key_it_does_not_use(override, message):
    with pytest.raises(FlankitError, match=f"override {override}") as err:
        load_config(DataConfig, None, [override])
    assert message in str(err.value)


def test_the_data_seed_follows_the_job_seed_unless_set_apart():
    assert data_seed(None, 7) == 7 and data_seed(2, 7) == 2
    small = ["collections=[{name: synthetic, examples_per_task: 5}]"]
    built = load_config(DataConfig, None, [*small, "seed=3"])
    assert resolve(built).mixture.seed == 3 and load_mixture(built, seed=built.seed)[0].seed == 3
    apart = load_config(DataConfig, None, [*small, "seed=3", "mixture.seed=5"])
    assert resolve(apart).mixture.seed == 5
    run = load_config(TrainConfig, None, [f"data.{small[0]}", "seed=7"])
    assert run_data(run).mix.seed == 7
    run_apart = load_config(
        TrainConfig, None, [f"data.{small[0]}", "seed=7", "data.mixture.seed=2"]
    )
    assert run_data(run_apart).mix.seed == 2


def _texts(tmp_path, **over):
    path = tmp_path / "build.yaml"
    path.write_text("collections: [{name: synthetic, examples_per_task: 10}]\n")
    return load_config(DataConfig, path, [f"{k}={v}" for k, v in over.items()])


def test_a_build_seed_orders_the_data_as_mixture_seed_does(tmp_path):
    rows = {}
    for name, over in {"seed": {"seed": 3}, "mixture": {"mixture.seed": 3}, "zero": {}}.items():
        build(_texts(tmp_path, **over), tmp_path / name, progress=False)
        rows[name] = (tmp_path / name / "data" / "part-00000.jsonl").read_text()
    assert rows["seed"] == rows["mixture"] != rows["zero"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("built")
    cfg = load_config(
        DataConfig,
        None,
        [
            "collections=[{name: synthetic, examples_per_task: 10}]",
            "mixture.num_examples=64",
            "features.tokenizer=byt5",
            "features.input_length=128",
            "features.target_length=32",
            "chunk_examples=32",
        ],
    )
    build(cfg, out / "b", progress=False)
    return out / "b"


def _run(built, *over):
    return load_config(
        TrainConfig,
        None,
        [
            f"data.built={built}",
            "data.features.input_length=128",
            "data.features.target_length=32",
            "chunk_examples=32",
            *over,
        ],
    )


def test_a_build_that_disagrees_with_the_run_is_refused_naming_the_key(built):
    b, byt5 = open_build(built), load_tokenizer("byt5")
    ok = _run(built)
    feats = run_features(ok, "encdec")
    args = dict(layout="encdec", feats=feats, tokenizer=byt5, seed=0, chunk=32)
    check_build(b, **args)  # agrees
    with pytest.raises(
        FlankitError, match="the build's layout is encdec, but the model is decoder"
    ):
        check_build(b, **{**args, "layout": "decoder"})
    longer = replace(feats, input_length=256)
    with pytest.raises(FlankitError, match="data.features.input_length is 256, the build's is 128"):
        check_build(b, **{**args, "feats": longer})
    with pytest.raises(FlankitError, match="field seed: the run's data seed is 4"):
        check_build(b, **{**args, "seed": 4})
    with pytest.raises(FlankitError, match="chunk_examples is 64, the build packed chunks of 32"):
        check_build(b, **{**args, "chunk": 64})
    from flankit.tokenizer import train_tokenizer

    other = train_tokenizer(["a small corpus of words to learn"] * 30, vocab_size=120)
    with pytest.raises(FlankitError, match="field model.tokenizer: the build's tokens come from"):
        check_build(b, **{**args, "tokenizer": other})


def test_training_on_a_build_of_another_layout_is_refused(built, tmp_path):
    cfg = _run(built, "model.shape=llama-tiny", "model.tokenizer=byt5", f"out_dir={tmp_path}")
    with pytest.raises(
        FlankitError, match="the build's layout is encdec, but the model is decoder"
    ):
        train(cfg, progress=False)


@pytest.mark.parametrize(
    "override",
    [
        "data.collections=[{name: synthetic, examples_per_task: 5}]",
        "data.collections=[{name: synthetic}]",  # the default, written out: refused too
        "data.mixture.num_examples=5",
        "data.skip_bad_rows=false",
    ],
)
def test_keys_that_define_examples_again_are_refused_with_a_build(built, override):
    key = override.split("=")[0]
    with pytest.raises(FlankitError, match=f"{key} is set, but data.built reads examples"):
        _run(built, override)
    assert run_data(_run(built, "data.mixture.seed=0")).build is not None  # the order may be named


def test_keys_that_define_examples_again_are_refused_in_code_too(built):
    cfg = _run(built)
    mixture = replace(cfg.data.mixture, num_examples=5)
    with pytest.raises(FlankitError, match="data.mixture.num_examples is set, but data.built"):
        run_data(replace(cfg, data=replace(cfg.data, mixture=mixture)))


def test_a_folder_that_is_no_finished_build_is_refused(tmp_path):
    with pytest.raises(FlankitError, match="not a finished build"):
        open_build(tmp_path)
    build(_texts(tmp_path), tmp_path / "texts", progress=False)
    with pytest.raises(FlankitError, match="no token shards"):
        open_build(tmp_path / "texts")


def test_eval_refuses_exactly_keys_the_other_commands_have():
    # The eval config names other commands' keys by hand (to avoid importing them); each must
    # still be a field of the command it names, or the refusal points users at nothing.
    import dataclasses

    from flankit.data.build import DataConfig
    from flankit.evals import suite
    from flankit.train.loop import TrainConfig

    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    build_fields = {f.name for f in dataclasses.fields(DataConfig)}
    assert set(suite._TRAIN_KEYS) <= train_fields, set(suite._TRAIN_KEYS) - train_fields
    assert set(suite._BUILD_KEYS) <= build_fields, set(suite._BUILD_KEYS) - build_fields
