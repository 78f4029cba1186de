"""Publication dates: saved pages of each kind of dating error found on the development corpora, offline."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitor.extract import extract_article
from monitor.extract.datetext import visible_dates

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "metadata"


def page(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def published_day(html: str, url: str) -> date | None:
    article = extract_article(html, url)
    return article.published.date() if article.published is not None else None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # words a template glues to the date
        ("PublishedOctober 14, 2025 in Corporate training", [(datetime(2025, 10, 14), False)]),
        ("Shauna MitchellAugust 25, 2024COPIED!", [(datetime(2024, 8, 25), False)]),
        ("Mental HealthDECEMBER 22, 2022Updated: JANUARY 02, 2026", [
            (datetime(2022, 12, 22), False), (datetime(2026, 1, 2), True)
        ]),
        ("Dec 18, 2025X min read", [(datetime(2025, 12, 18), False)]),
        ("By Alison PlautUpdated on October 21, 2025Edited by Cassie Muniz", [(datetime(2025, 10, 21), True)]),
        # numeric dates, when the order of day and month is certain
        ("Essay - Published: 2025.12.17 |", [(datetime(2025, 12, 17), False)]),
        ("2025/12/17", [(datetime(2025, 12, 17), False)]),
        ("View Full Profile 2/24/2026", [(datetime(2026, 2, 24), False)]),
        ("24.02.2026", [(datetime(2026, 2, 24), False)]),
        ("By The Currency editors 12.12.2025", [(datetime(2025, 12, 12), False)]),
        ("Updated: 10/31/2024", [(datetime(2024, 10, 31), True)]),
        # never a date
        ("3/4/2025", []),  # March 4th or April 3rd
        ("Yucy3/4/2025000000Shares", []),
        ("Mar 27, 20255 mins", []),
        ("Version 1.2.2020", []),
        ("Summary 5, 2024", []),
    ],
)  # fmt: skip
def test_visible_dates(line: str, expected: list[tuple[datetime, bool]]) -> None:
    assert visible_dates(line) == expected


def test_a_dateline_glued_to_the_byline_and_an_update_label_is_read() -> None:
    # "Ann LeeApril 26, 2024Updated on: October 28, 2024": the spans carry no spaces between them
    article = extract_article(page("glued_dateline.html"), "https://millbrook.example/news/river-path")
    assert article.published == datetime(2024, 4, 26, tzinfo=UTC)
    assert article.updated == datetime(2024, 10, 28, tzinfo=UTC)


def test_a_numeric_dateline_is_read() -> None:
    # the header's "Published: 2025.12.17", not the later "Read next: …, 3 March 2025"
    article = extract_article(page("numeric_dateline.html"), "https://millbrook.example/news/river-path")
    assert article.published == datetime(2025, 12, 17, tzinfo=UTC)
    assert article.published_from == "dateline"


def test_a_publication_time_stamped_with_the_last_save_gives_way_to_the_headers_dateline() -> None:
    # JSON-LD says published and modified on 5 November 2025; the header shows 31 January 2024
    article = extract_article(page("restamped_jsonld.html"), "https://tidy.example/blog/cleaner-cost")
    assert article.published is not None
    assert article.published.date() == date(2024, 1, 31)
    assert article.published_from == "dateline"
    assert article.updated is not None
    assert article.updated.date() == date(2025, 11, 5)


def test_a_date_in_the_article_text_does_not_replace_a_restamped_publication_time() -> None:
    # without the header's dateline only "As of July 31, 2025" in the text is earlier: a fact, not the date
    html = page("restamped_jsonld.html").replace("January 31, 2024 · Written by Miguel Santos", "Miguel Santos")
    article = extract_article(html, "https://tidy.example/blog/cleaner-cost")
    assert article.published is not None
    assert article.published.date() == date(2025, 11, 5)
    assert article.published_from == "json-ld"


def test_a_publication_time_that_differs_from_the_modification_is_kept() -> None:
    html = page("restamped_jsonld.html").replace('"datePublished": "2025-11-05"', '"datePublished": "2023-06-01"')
    assert published_day(html, "https://tidy.example/blog/cleaner-cost") == date(2023, 6, 1)


def test_a_dateline_beside_the_headline_outside_the_article_element_is_read() -> None:
    article = extract_article(page("header_outside_container.html"), "https://planwise.example/blog/pricing")
    assert article.published == datetime(2025, 12, 26, tzinfo=UTC)
    assert article.published_from == "dateline"


def test_a_date_far_from_the_headline_outside_the_article_does_not_date_it() -> None:
    html = page("header_outside_container.html").replace("<p>Dec 26, 2025 • Mahua Das in Project Management</p>", "")
    html = html.replace("</main>", "</main><div class='promo-box'><p>Offer ends Dec 31, 2025</p></div>")
    assert published_day(html, "https://planwise.example/blog/pricing") is None


def test_a_utc_time_takes_the_offset_another_signal_states_the_same_instant_in() -> None:
    # the meta tag's 03:05 UTC is the <time>'s 19:05 -08:00; the recent posts' dates leave the local day open
    article = extract_article(page("utc_restated_offset.html"), "https://night.example/gadget-launches")
    assert article.published == datetime(2025, 12, 19, 3, 5, tzinfo=UTC)
    assert article.published is not None
    assert article.published.utcoffset() == timedelta(hours=-8)
    assert article.published.date() == date(2025, 12, 18)


def test_a_utc_time_takes_the_urls_day_when_the_datelines_disagree() -> None:
    html = page("utc_restated_offset.html").replace(
        '<time datetime="2025-12-18T19:05:00-08:00">December 18, 2025</time>', "December 18, 2025"
    )
    article = extract_article(html, "https://night.example/2025/12/18/gadget-launches")
    assert article.published == datetime(2025, 12, 19, 3, 5, tzinfo=UTC)
    assert article.published is not None
    assert article.published.date() == date(2025, 12, 18)


def test_a_related_cards_microdata_does_not_date_the_page() -> None:
    article = extract_article(page("teaser_microdata.html"), "https://techleader.example/podcasts")
    assert article.published == datetime(2025, 3, 27, tzinfo=UTC)
    assert article.published_from == "meta"


def test_rdfa_date_published_is_read() -> None:
    # property="datePublished" (RDFa), in the article's own item, though its wrapper is named for share buttons
    article = extract_article(page("rdfa_published.html"), "https://admissions.example/stories/essays")
    assert article.published == datetime(2023, 8, 8, 10, 12, tzinfo=timezone(timedelta(hours=-5)))
    assert article.published_from == "meta"


def test_a_meta_tag_named_published_is_read() -> None:
    article = extract_article(page("meta_published_name.html"), "https://datawise.example/blog/tools")
    assert article.published == datetime(2025, 7, 17, tzinfo=UTC)
    assert article.published_from == "meta"


def test_a_date_written_straight_into_the_article_block_is_read() -> None:
    article = extract_article(page("bare_text_dateline.html"), "https://blog.example/puzzle-week-two")
    assert article.published == datetime(2025, 12, 20, tzinfo=UTC)
    assert article.published_from == "dateline"


def test_a_date_inside_a_sentence_of_a_larger_block_is_not_a_dateline() -> None:
    html = page("bare_text_dateline.html").replace(
        "20 December 2025", "The puzzles of 20 December 2025 were harder than those of the first week, said most"
    )
    article = extract_article(html, "https://blog.example/puzzle-week-two")
    assert article.published_from != "dateline"  # (htmldate's own search of the page may still offer it)


def test_class_words_that_name_the_page_or_its_builder_are_not_furniture() -> None:
    # WordPress puts the post's categories and tags on the article ("category-newsletter", "tag-comment"), every
    # Elementor block is an "elementor-widget", and a layout utility may name a sidebar's width: none is a sidebar.
    article = extract_article(page("builder_classes.html"), "https://coast.example/2025/ferry-terminal")
    assert article.published is not None and article.published.date() == date(2025, 3, 3)
    assert article.authors == ["Morag Stewart"]
    assert "breakwater" in article.text and "Museum reopens" not in article.text
