from pathlib import Path

import pytest

from flankit.config import load_config
from flankit.data.build import DataConfig
from flankit.sweep import load_sweep_config
from flankit.train.loop import TrainConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("path", sorted((CONFIGS / "train").glob("*.yaml")), ids=lambda p: p.name)
def test_train_recipes_parse_and_name_their_command(path):
    cfg = load_config(TrainConfig, path)
    first = path.read_text().splitlines()[0]
    assert first.startswith("# ") and "flankit" in first and path.name in first
    assert cfg.steps > 0 and (cfg.model.path or cfg.model.shape)


@pytest.mark.parametrize("path", sorted((CONFIGS / "data").glob("*.yaml")), ids=lambda p: p.name)
def test_data_configs_parse(path):
    assert load_config(DataConfig, path).collections
    assert path.read_text().startswith("# flankit data build")


@pytest.mark.parametrize("path", sorted((CONFIGS / "sweep").glob("*.yaml")), ids=lambda p: p.name)
def test_sweep_configs_parse(path):
    cfg = load_sweep_config(str(path), [])
    assert Path(cfg.base).exists()
