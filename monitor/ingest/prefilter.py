"""Skip plainly irrelevant links before fetching them, from what a Google News sitemap says.

Opt-in per source (``prefilter: true``): a link whose index entry carries a title or
``news:keywords`` is fetched only if some rule matches that title and those keywords.
Links with neither are always fetched. A rule that needs the body (a ``body:`` field,
a NEAR across sentences) can miss here: keep the prefilter for high-volume sources
whose relevant stories name the topic in the headline or keywords.
"""

from __future__ import annotations

from monitor.extract import Link
from monitor.models import Article
from monitor.rules import RuleSet, score_article


def may_be_relevant(ruleset: RuleSet, link: Link, source: str) -> bool:
    """True unless the link's index title and keywords match no rule at all."""
    if not link.title and not link.keywords:
        return True
    stub = Article(
        url=link.url,
        canonical_url=link.url,
        title=link.title or "",
        text=" ".join(link.keywords),
        published=link.published,
        language=link.language,
        source=source,
    )
    return bool(score_article(ruleset, stub, threshold=float("inf")).matches)
