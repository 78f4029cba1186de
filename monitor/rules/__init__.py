"""The rules engine: pure, text in, score and explanation out (no I/O, no clock, no globals).

What other packages use: ``compile_rules`` (specs to a ``RuleSet``), ``score_article``
(an article to a ``Verdict``), ``explain``/``hit_line`` (a verdict in words),
``definition``/``tree`` (a rule in words), ``RuleSpec`` and the errors. The rule
language's tree and parsers (``monitor.rules.lang``) are public too: the
configuration builds rule conditions with them. Inside: ``lex`` and ``lang`` (the
query language), ``text`` (words and fields), ``index`` (the term index), ``match``
and ``needs`` (compiled conditions), ``render`` (rules back to text), ``engine``.
"""

from monitor.rules.engine import RuleError, RuleSet, compile_rules, definition, score_article
from monitor.rules.explanation import explain, hit_line
from monitor.rules.lang import QueryError
from monitor.rules.render import tree
from monitor.rules.spec import RuleSpec

__all__ = [
    "QueryError",
    "RuleError",
    "RuleSet",
    "RuleSpec",
    "compile_rules",
    "definition",
    "explain",
    "hit_line",
    "score_article",
    "tree",
]
