"""No package reaches into another package's private modules or names (``perpscope.x._y``, ``_name``).

A leading underscore says "this package's own business": another package that imports it is tied to an
implementation that may change without notice. Within one package (``perpscope.metrics.*`` importing
``perpscope.metrics._z``) it is fine. The rule is checked on the source tree with ``ast``, so it holds for
imports written inside functions too.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def cross_package_private_imports(src: Path = SRC) -> list[str]:
    """``file:line importer -> imported`` for every import of another top-level package's private part."""
    out = []
    for path in sorted((src / "perpscope").rglob("*.py")):
        module = ".".join(path.relative_to(src).with_suffix("").parts)
        package = module.split(".")[:2]  # perpscope.<package>
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            target = node.module.split(".")
            if target[:1] != ["perpscope"] or target[:2] == package:
                continue
            names = [a.name for a in node.names]
            if any(_private(p) for p in target) or any(_private(n) for n in names):
                out.append(f"{path.relative_to(src)}:{node.lineno} {module} -> {node.module} {names}")
    return out


def test_no_package_imports_another_packages_private_parts() -> None:
    assert cross_package_private_imports() == []


def test_the_check_sees_a_private_import(tmp_path: Path) -> None:
    pkg = tmp_path / "perpscope"
    (pkg / "a").mkdir(parents=True)
    (pkg / "b").mkdir()
    (pkg / "a" / "_inner.py").write_text("X = 1\n")
    (pkg / "a" / "own.py").write_text("from perpscope.a._inner import X\n")  # same package: fine
    (pkg / "b" / "user.py").write_text("def f():\n    from perpscope.a._inner import X\n    return X\n")
    assert cross_package_private_imports(tmp_path) == [
        "perpscope/b/user.py:2 perpscope.b.user -> perpscope.a._inner ['X']"
    ]
