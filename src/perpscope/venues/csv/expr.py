"""Arithmetic over CSV columns, written as text in a mapping and compiled to a polars expression.

A mapping may derive a field from several columns, e.g. ``"filled_accum_qty * coalesce(avg_price,
price)"``. The text is parsed with :mod:`ast` (never evaluated) and only this grammar is accepted:

- numbers; column names (Python identifiers); ``col("any column name")`` for other names;
- ``+ - * /``, unary ``-``, parentheses;
- ``coalesce(a, b, ...)`` (first non-empty), ``abs(x)``, ``min(a, b, ...)``, ``max(a, b, ...)``.

Every column is read as a number (Float64). Anything else is a :class:`ExprError`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

_FUNCS = frozenset({"coalesce", "abs", "min", "max", "col"})
_BINOPS: dict[type, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


class ExprError(ValueError):
    """The expression text is outside the accepted grammar."""


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its text, the columns it reads, and its syntax tree."""

    text: str
    columns: frozenset[str]
    tree: ast.expr

    def build(self, column: Callable[[str], pl.Expr]) -> pl.Expr:
        """The polars expression, with each column name turned into ``column(name)``."""
        return _build(self.tree, column)


def parse_expression(text: str) -> Expression:
    """Parse and check ``text``; raise :class:`ExprError` saying what is not allowed."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExprError(f"cannot parse expression {text!r}: {exc.msg}") from None
    cols: set[str] = set()
    _check(tree, text, cols)
    return Expression(text, frozenset(cols), tree)


def _check(node: ast.expr, text: str, cols: set[str]) -> None:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ExprError(f"{text!r}: only numbers may appear as constants, found {node.value!r}")
    elif isinstance(node, ast.Name):
        cols.add(node.id)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise ExprError(f"{text!r}: only + - * / are allowed, found {type(node.op).__name__}")
        _check(node.left, text, cols)
        _check(node.right, text, cols)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.USub | ast.UAdd):
            raise ExprError(f"{text!r}: only unary minus is allowed")
        _check(node.operand, text, cols)
    elif isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in _FUNCS or node.keywords:
            raise ExprError(
                f"{text!r}: allowed functions are {sorted(_FUNCS)}, found {ast.unparse(node.func)}"
            )
        if name == "col":
            arg = node.args[0] if len(node.args) == 1 else None
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                raise ExprError(f'{text!r}: col() takes one quoted column name, e.g. col("long %")')
            cols.add(arg.value)
            return
        if not node.args or (name == "abs" and len(node.args) != 1):
            raise ExprError(f"{text!r}: wrong number of arguments to {name}()")
        for a in node.args:
            _check(a, text, cols)
    else:
        raise ExprError(f"{text!r}: {type(node).__name__} is not allowed (use numbers, columns, + - * /)")


def _build(node: ast.expr, column: Callable[[str], pl.Expr]) -> pl.Expr:
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, int | float)
        return pl.lit(float(node.value))
    if isinstance(node, ast.Name):
        return column(node.id)
    if isinstance(node, ast.BinOp):
        return _BINOPS[type(node.op)](_build(node.left, column), _build(node.right, column))
    if isinstance(node, ast.UnaryOp):
        inner = _build(node.operand, column)
        return -inner if isinstance(node.op, ast.USub) else inner
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    name = node.func.id
    if name == "col":
        arg = node.args[0]
        assert isinstance(arg, ast.Constant)
        return column(str(arg.value))
    args = [_build(a, column) for a in node.args]
    if name == "coalesce":
        return pl.coalesce(args)
    if name == "abs":
        return args[0].abs()
    if name == "min":
        return pl.min_horizontal(args)
    return pl.max_horizontal(args)
