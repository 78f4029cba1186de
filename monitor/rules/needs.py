"""What a rule needs before it can hold: a cheap necessary condition, used to skip rules quickly.

For each compiled rule, ``requirements`` gives a few alternatives, each a list of
groups of atoms; the rule can only hold if, for one alternative, every group has an
atom where it may hit. The engine indexes each rule under one group per alternative
(so only rules whose atoms were found are looked at), tests the rest with set
intersections, and evaluates the rule's tree only when that test cannot decide.
"""

from __future__ import annotations

from monitor.rules.index import Atom
from monitor.rules.match import AllOf, AnyLeaf, AnyOf, Compiled, Leaf, NoneOf, Proximity

__all__ = ["MAX_ALTERNATIVES", "Alternatives", "Group", "group_cost", "group_size", "rarity", "requirements"]

# A requirement: atoms of which one must be in the title (first set) or in the body (second set).
Group = tuple[frozenset[int], frozenset[int]]
# Alternatives: the node can only hold if, for one of them, every group is met.
Alternatives = tuple[tuple[Group, ...], ...]
MAX_ALTERNATIVES = 8


def requirements(node: Compiled) -> tuple[Alternatives, bool] | None:
    """A cheap necessary condition for ``node``, and whether it is also sufficient.

    The condition is a few alternatives, each a list of groups of atoms; an
    alternative is met when every group has an atom where it may hit (set
    intersections, no tree walk). The engine checks it before evaluating a rule
    and indexes each rule under one group per alternative. When it is also
    sufficient (terms, ANDs and ORs of terms, none limited to the lead), the rule
    is not evaluated at all. None when ``node`` requires nothing positive (a NOT
    or a filter on its own).
    """
    if isinstance(node, (Leaf, AnyLeaf)):
        leaves = (node,) if isinstance(node, Leaf) else node.leaves
        return ((_group(leaves),),), all(leaf.mask in (1, 6, 7) for leaf in leaves)
    if isinstance(node, Proximity):
        return ((_group(node.left), _group(node.right)),), False
    if isinstance(node, NoneOf) and isinstance(node.child, NoneOf):
        return requirements(node.child.child)  # NOT NOT x is x
    if isinstance(node, AllOf):
        parts = [requirements(child) for child in node.children]
        known = [part for part in parts if part is not None]
        if not known:
            return None
        sufficient = len(known) == len(parts) and all(enough for _, enough in known)
        combined: Alternatives = ((),)
        for alternatives, _ in known:
            if len(combined) * len(alternatives) > MAX_ALTERNATIVES:
                alternatives, sufficient = (_merge(alternatives),), False
            combined = tuple((*mine, *theirs) for mine in combined for theirs in alternatives)
        return combined, sufficient
    if isinstance(node, AnyOf):
        options: list[tuple[Group, ...]] = []
        sufficient = True
        for child in node.children:
            part = requirements(child)
            if part is None:
                return None
            options.extend(part[0])
            sufficient = sufficient and part[1]
        if len(options) > MAX_ALTERNATIVES:
            return (_merge(tuple(options)),), False
        return tuple(options), sufficient
    return None


def _merge(alternatives: Alternatives) -> tuple[Group]:
    """One group that any of ``alternatives`` needs an atom of: the union of each one's smallest group."""
    title: set[int] = set()
    body: set[int] = set()
    for alternative in alternatives:
        best = min(alternative, key=group_size)
        title.update(best[0])
        body.update(best[1])
    return ((frozenset(title), frozenset(body)),)


def _group(leaves: tuple[Leaf, ...]) -> Group:
    title = frozenset(leaf.atom for leaf in leaves if leaf.mask & 1)
    return title, frozenset(leaf.atom for leaf in leaves if leaf.mask & 6)


def group_size(group: Group) -> int:
    """How many atoms a group holds."""
    return len(group[0]) + len(group[1])


TITLE_RARITY = 0.05  # a title has about a twentieth of an article's words


def group_cost(cost: list[float], group: Group) -> float:
    """How often a group is likely to be met: title-only atoms are far rarer than body ones."""
    return TITLE_RARITY * sum(cost[number] for number in group[0]) + sum(cost[number] for number in group[1])


def rarity(atom: Atom) -> float:
    """A guess at how common an atom is, to pick which of a rule's groups to index it under."""
    guess = 0.2 if len(atom.words) > 1 else 1.0  # a phrase is rarer than a word
    if atom.words[0][:1].isupper() or atom.case_sensitive:
        guess *= 0.5  # written as a name
    if len(atom.words[-1]) <= 3:
        guess *= 2
    if atom.prefix:
        guess *= 3
    elif atom.inflect:
        guess *= 2
    return guess
