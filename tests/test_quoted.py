import json
import shutil
from pathlib import Path

import pytest

from flankit import quoted
from flankit.errors import FlankitError

ROOT = Path(__file__).parents[1]


def test_documents_quote_exactly_what_the_result_files_say():
    assert quoted.count_passages(ROOT) >= 5  # README, STUDY and RESULTS quote generated numbers
    assert quoted.check(ROOT) == []


def _copy(tmp_path: Path) -> Path:
    for rel in (*quoted.DOCUMENTS, "docs/study"):
        src, dst = ROOT / rel, tmp_path / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    return tmp_path


def test_a_hand_edited_number_is_caught_and_rewritten(tmp_path):
    root = _copy(tmp_path)
    path = root / "docs/STUDY.md"
    text = path.read_text()
    m = next(quoted.MARK.finditer(text))
    body = m.group("body")
    digit = next(i for i, c in enumerate(body) if c.isdigit())
    edited = body[:digit] + str((int(body[digit]) + 1) % 10) + body[digit + 1 :]
    path.write_text(text[: m.start("body")] + edited + text[m.end("body") :])
    stale = quoted.check(root)
    assert len(stale) == 1 and stale[0].startswith("docs/STUDY.md:")
    assert quoted.rewrite(root) == ["docs/STUDY.md"] and quoted.check(root) == []
    assert path.read_text() == text


def test_a_changed_result_file_makes_the_documents_stale(tmp_path):
    root = _copy(tmp_path)
    qs = root / "docs/study/quickstart.json"
    data = json.loads(qs.read_text())
    data["finetuned"]["held_out zs direct"]["acc"] += 1.0
    qs.write_text(json.dumps(data))
    assert quoted.check(root)


def test_passages_name_real_generators_and_fields(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({"a": {"b c": 1.25}}))
    doc = "x <!-- flankit:value r.json a.b+c +.2f --> old <!-- /flankit --> y"
    assert (
        quoted.render(doc, tmp_path)
        == "x <!-- flankit:value r.json a.b+c +.2f --> +1.25 <!-- /flankit --> y"
    )
    with pytest.raises(FlankitError, match="no 'd'"):
        quoted.render("<!-- flankit:value r.json a.d --><!-- /flankit -->", tmp_path)
    with pytest.raises(FlankitError, match="unknown generated passage"):
        quoted.render("<!-- flankit:nope --><!-- /flankit -->", tmp_path)
    with pytest.raises(FlankitError, match="result file missing"):
        quoted.render("<!-- flankit:value gone.json a --><!-- /flankit -->", tmp_path)
