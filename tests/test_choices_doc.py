"""docs/choices.md and the comments that point to it: every link resolves, every key's comment stays short."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "choices.md"
CONFIG = ROOT / "mlsearch" / "config.py"
LINK = re.compile(r"docs/choices\.md#([\w-]+)")
SECTIONS = ("DataConfig", "ModelConfig", "TrainConfig", "EvalConfig", "GridConfig", "RunConfig")


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation dropped (not - or _), spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def doc_anchors() -> list[str]:
    text = re.sub(r"```.*?```", "", DOC.read_text(encoding="utf-8"), flags=re.S)
    return [anchor(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.M)]


def test_anchor_rule():
    assert anchor("model.interaction") == "modelinteraction"
    assert anchor("train.align_loss") == "trainalign_loss"
    assert anchor("kind e5") == "kind-e5"


def test_headings_are_unique():
    anchors = doc_anchors()
    assert len(anchors) == len(set(anchors)), sorted(a for a in anchors if anchors.count(a) > 1)


def test_every_link_to_choices_resolves():
    files = sorted((ROOT / "mlsearch").rglob("*.py")) + sorted((ROOT / "params").rglob("*.yaml"))
    links = {(f.relative_to(ROOT).as_posix(), a) for f in files for a in LINK.findall(f.read_text(encoding="utf-8"))}
    assert any(path == "mlsearch/config.py" for path, _ in links), "config.py links no section of docs/choices.md"
    known = set(doc_anchors())
    missing = sorted(f"{path}: #{a}" for path, a in links if a not in known)
    assert not missing, f"no such heading in docs/choices.md: {missing}"


def test_links_inside_choices_resolve():
    known = set(doc_anchors())
    missing = sorted(set(re.findall(r"\]\(#([\w-]+)\)", DOC.read_text(encoding="utf-8"))) - known)
    assert not missing, missing


def _field_comments() -> dict[str, list[str]]:
    """``Class.field`` → the ``#:`` lines right above the field in config.py."""
    lines = CONFIG.read_text(encoding="utf-8").splitlines()
    out = {}
    for node in ast.parse("\n".join(lines)).body:
        if not (isinstance(node, ast.ClassDef) and node.name in SECTIONS):
            continue
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                i, block = item.lineno - 2, []
                while i >= 0 and lines[i].strip().startswith("#:"):
                    block.insert(0, lines[i])
                    i -= 1
                out[f"{node.name}.{item.target.id}"] = block
    return out


def test_every_config_key_has_a_short_comment():
    comments = _field_comments()
    assert {key.split(".")[0] for key in comments} == set(SECTIONS)
    undocumented = sorted(key for key, block in comments.items() if not block)
    assert not undocumented, f"keys without a #: comment: {undocumented}"
    too_long = sorted(f"{key} ({len(block)} lines)" for key, block in comments.items() if len(block) > 3)
    assert not too_long, f"move the evidence to docs/choices.md: {too_long}"
