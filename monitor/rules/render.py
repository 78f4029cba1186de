"""Rule trees written out: back as a query string, or as the indented tree ``monitor rules check`` prints."""

from __future__ import annotations

import re

from monitor.rules.lang import DEFAULT_FIELDS, And, Filter, Near, Node, Not, Or, Term

__all__ = ["render", "tree"]


def render(node: Node) -> str:
    """``node`` written back as a query string."""
    return _render(node, 0)


def _render(node: Node, outer: int) -> str:
    # Precedence: OR 1, AND 2, NOT 3, NEAR 4, primary 5; bracket a looser node inside a tighter one.
    if isinstance(node, Term):
        return _render_term(node)
    if isinstance(node, Filter):
        values = [_quote(v) for v in node.values]
        return f"{node.field}:" + (values[0] if len(values) == 1 else "(" + " OR ".join(values) + ")")
    if isinstance(node, Near):
        operator = f"{'ONEAR' if node.ordered else 'NEAR'}/{node.distance}"
        text = f"{_render_side(node.left)} {operator} {_render_side(node.right)}"
        level = 4
    elif isinstance(node, Not):
        text, level = "NOT " + _render(node.child, 3), 3
    elif isinstance(node, And):
        text, level = " AND ".join(_render(child, 2) for child in node.children), 2
    else:
        text, level = " OR ".join(_render(child, 1) for child in node.children), 1
    return f"({text})" if level < outer else text


def _render_side(terms: tuple[Term, ...]) -> str:
    text = " OR ".join(_render_term(term) for term in terms)
    return f"({text})" if len(terms) > 1 else text


def _render_term(term: Term) -> str:
    written = " ".join(term.words)
    text = f'"{written}"' if len(term.words) > 1 or not re.fullmatch(r"\w+", written) else written
    text = ("=" if term.case_sensitive else "") + text + ("*" if term.prefix else "~" if term.inflect else "")
    if term.fields != DEFAULT_FIELDS:
        text = "/".join(term.fields) + ":" + text
    return text


def _quote(value: str) -> str:
    return value if re.fullmatch(r"[^\s()\"“”]+", value) else f'"{value}"'


def tree(node: Node, *, vetoes: tuple[Node, ...] = ()) -> list[str]:
    """``node`` (and any vetoes) as an indented tree, one line per node, for ``monitor rules check``."""
    lines: list[str] = []
    _tree(node, "", "", lines)
    for veto in vetoes:
        _tree(veto, "", "", lines, label="VETO ")
    return lines


def _tree(node: Node, first: str, rest: str, lines: list[str], label: str = "") -> None:
    if isinstance(node, (And, Or)):
        lines.append(f"{first}{label}{'ALL of' if isinstance(node, And) else 'ANY of'}")
        for index, child in enumerate(node.children):
            last = index == len(node.children) - 1
            _tree(child, rest + ("└─ " if last else "├─ "), rest + ("   " if last else "│  "), lines)
    elif isinstance(node, Not):
        if isinstance(node.child, (And, Or, Not)):
            lines.append(f"{first}{label}NOT")
            _tree(node.child, rest + "└─ ", rest + "   ", lines)
        else:
            lines.append(f"{first}{label}NOT {_describe(node.child)}")
    else:
        lines.append(f"{first}{label}{_describe(node)}")


def _describe(node: Node) -> str:
    if isinstance(node, Term):
        options = [
            "case-sensitive" if node.case_sensitive else "",
            "prefix" if node.prefix else "",
            "inflections" if node.inflect else "",
            "in " + "/".join(node.fields) if node.fields != DEFAULT_FIELDS else "",
        ]
        kind = "phrase" if len(node.words) > 1 else "word"
        shown = " ".join(node.words)
        return f'{kind} "{shown}"' + "".join(f", {option}" for option in options if option)
    if isinstance(node, Near):
        left, right = _render_side(node.left), _render_side(node.right)
        if node.ordered:
            return f"{left} followed by {right} within {node.distance} words"
        return f"{left} within {node.distance} words of {right}"
    return render(node)
