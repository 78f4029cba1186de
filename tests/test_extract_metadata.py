"""Dates, titles and authors a monitor can trust: saved pages of each kind that went wrong, offline."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitor.alerts import build_event
from monitor.errors import ExtractionError
from monitor.extract import extract_article
from monitor.extract.bylines import people
from monitor.extract.datetext import visible_dates
from monitor.ingest import save_article
from monitor.models import Verdict
from monitor.store import Store
from monitor.store.outbox import stored_article

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "metadata"


def page(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


# ---------------------------------------------------------------- dates


def test_a_comment_below_the_article_does_not_date_it() -> None:
    article = extract_article(page("comment_date.html"), "https://coastal.example/news/harbour-wall")
    # the byline's "Published 5 March 2024", not a comment's <time> (9 or 11 March) nor the header's "today"
    assert article.published is not None
    assert article.published.date() == date(2024, 3, 5)
    assert article.published_from == "dateline"


def test_a_last_updated_line_is_the_update_never_the_publication() -> None:
    article = extract_article(page("last_updated.html"), "https://post.example/news/rail-strike")
    assert article.published == datetime(2024, 3, 5, 9, 0, tzinfo=UTC)
    assert article.updated == datetime(2024, 3, 7, 10, 15, tzinfo=UTC)


def test_a_page_with_only_a_modification_time_has_no_publication_date() -> None:
    html = page("last_updated.html").replace("First published 5 March 2024, 09:00", "")
    article = extract_article(html, "https://post.example/news/rail-strike")
    assert article.published is None
    assert article.updated == datetime(2024, 3, 7, 10, 15, tzinfo=UTC)


def test_a_utc_time_just_after_midnight_is_shown_on_the_local_day_of_the_dateline() -> None:
    article = extract_article(page("utc_after_midnight.html"), "https://lakeside.example/news/bus-pilot")
    # the same instant as the markup's 00:30 UTC, in the offset of the dateline's "March 4, 2024, 7:30 PM"
    assert article.published == datetime(2024, 3, 5, 0, 30, tzinfo=UTC)
    assert article.published is not None
    assert article.published.date() == date(2024, 3, 4)
    assert article.published.utcoffset() == timedelta(hours=-5)


def test_a_utc_time_just_after_midnight_takes_the_local_day_of_the_url() -> None:
    html = page("utc_after_midnight.html").replace("LAKESIDE, March 4, 2024, 7:30 PM", "LAKESIDE")
    article = extract_article(html, "https://lakeside.example/2024/03/04/bus-pilot")
    assert article.published == datetime(2024, 3, 5, 0, 30, tzinfo=UTC)
    assert article.published is not None
    assert article.published.date() == date(2024, 3, 4)


def test_a_utc_time_far_from_midnight_keeps_its_day() -> None:
    html = page("utc_after_midnight.html").replace("2024-03-05T00:30:00Z", "2024-03-04T15:30:00Z")
    article = extract_article(html, "https://lakeside.example/news/bus-pilot")
    assert article.published == datetime(2024, 3, 4, 15, 30, tzinfo=UTC)
    assert article.published is not None
    assert article.published.utcoffset() == timedelta(0)


def test_a_page_that_states_no_date_stays_undated() -> None:
    html = page("byline_job_title.html").replace(
        '<meta property="article:published_time" content="2022-01-20T11:00:00+00:00">', ""
    )
    html = html.replace(" · 20 January 2022", "")
    article = extract_article(html, "https://desk.example/eu-border")
    assert article.published is None
    assert article.published_from is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Published 5 March 2024", [(datetime(2024, 3, 5), False)]),
        ("LAKESIDE, March 4, 2024, 7:30 PM", [(datetime(2024, 3, 4, 19, 30), False)]),
        ("Last updated 7 March 2024 · First published 5 March 2024", [
            (datetime(2024, 3, 7), True), (datetime(2024, 3, 5), False)
        ]),
        ("Updated: 2024-03-07", [(datetime(2024, 3, 7), True)]),
        ("March 2024", []),  # no day: no dateline
        ("In 2024 the council met", []),
    ],
)  # fmt: skip
def test_visible_dates(line: str, expected: list[tuple[datetime, bool]]) -> None:
    assert visible_dates(line) == expected


# ---------------------------------------------------------------- authors


def test_a_byline_with_a_job_title_and_a_dateline_names_only_the_person() -> None:
    article = extract_article(page("byline_job_title.html"), "https://desk.example/eu-border")
    assert article.authors == ["Tom Fletcher"]


def test_a_byline_naming_two_people_gives_both_in_page_order() -> None:
    article = extract_article(page("two_authors.html"), "https://ledger.example/water")
    assert article.authors == ["Priya Shah", "Dan Okafor"]


def test_an_agency_byline_is_an_organisation_not_an_author() -> None:
    article = extract_article(page("agency_byline.html"), "https://mw.example/oil")
    assert article.authors == []
    assert article.organisations == ["Reuters"]


@pytest.mark.parametrize(
    ("byline", "names", "agencies"),
    [
        ("By Tom Fletcher, Europe correspondent · 20 January 2022", ["Tom Fletcher"], []),
        ("By Jane Doe and John Smith.", ["Jane Doe", "John Smith"], []),
        ("Jane Doe; jane doe; John Smith", ["Jane Doe", "John Smith"], []),
        ("By Jane Doe, Reuters", ["Jane Doe"], ["Reuters"]),
        ("AP", [], ["AP"]),
        ("Rachel MacDonald Senior Writer", ["Rachel MacDonald"], []),
        ("Photo: Ann Lee", [], []),
        ("Podium Staff", ["Podium Staff"], []),
        ("Cazzy Magennis Last Updated August 1, 2025", ["Cazzy Magennis"], []),
    ],
)
def test_people(byline: str, names: list[str], agencies: list[str]) -> None:
    assert people(byline) == (names, agencies)


# ---------------------------------------------------------------- titles


@pytest.mark.parametrize(
    "title",
    [
        "Valley Herald | {h}",
        "Valley Herald – {h}",
        "Valley Herald - {h}",
        "Valley Herald: {h}",
        "Valley Herald » News » {h}",
        "{h} » Valley Herald",
        "{h} — News — Valley Herald",
    ],
)
def test_a_site_name_is_cut_from_the_title_however_it_is_joined(title: str) -> None:
    headline = "New library opens after “long wait”"
    html = page("title_separator.html").replace("{{TITLE}}", title.format(h=headline))
    article = extract_article(html, "https://valleyherald.example/news/library")
    assert article.title == headline  # the page's own quotes kept


def test_a_title_whose_remainder_would_be_a_fragment_keeps_its_prefix() -> None:
    html = page("title_separator.html").replace("{{TITLE}}", "Libraries: New library opens after “long wait”")
    html = html.replace('<h2 class="headline">New library opens after “long wait”</h2>', "")
    article = extract_article(html, "https://valleyherald.example/news/library")
    assert article.title == "Libraries: New library opens after “long wait”"


def test_the_headline_the_page_shows_beats_a_differently_worded_title_tag() -> None:
    html = page("title_separator.html").replace("{{TITLE}}", "Library opens its doors after long wait | Valley Herald")
    html = html.replace('<h2 class="headline">', "<h1>").replace("</h2>", "</h1>")
    html = html.replace("New library opens after “long wait”", "New town library opens its doors after a long wait")
    article = extract_article(html, "https://valleyherald.example/news/library")
    assert article.title == "New town library opens its doors after a long wait"


# ---------------------------------------------------------------- no body


def test_a_page_with_a_headline_but_no_body_is_an_article_with_empty_text() -> None:
    article = extract_article(page("headline_no_body.html"), "https://echo.example/live")
    assert article.text == ""
    assert article.text_missing == "no article text found"
    assert article.title == "Live: flood warnings across the north"
    assert article.published == datetime(2024, 1, 8, 6, 45, tzinfo=UTC)
    assert article.authors == ["Sam Reid"]


def test_a_page_with_no_body_title_or_date_is_still_an_error() -> None:
    html = "<html><head></head><body><div id='app'></div><script>boot()</script></body></html>"
    with pytest.raises(ExtractionError, match="no article text, title or date"):
        extract_article(html, "https://echo.example/app")


def test_an_offset_the_source_gives_is_kept() -> None:
    html = page("byline_job_title.html").replace("2022-01-20T11:00:00+00:00", "2022-01-20T12:00:00+01:00")
    article = extract_article(html, "https://desk.example/eu-border")
    assert article.published is not None
    assert article.published.utcoffset() == timezone(timedelta(hours=1)).utcoffset(None)


# ---------------------------------------------------------------- where they go


def test_the_store_and_the_alert_payload_keep_updated_agencies_and_a_missing_body(store: Store) -> None:
    article = extract_article(page("agency_byline.html"), "https://mw.example/oil")
    article.updated = datetime(2024, 1, 9, 8, 0, tzinfo=UTC)
    empty = extract_article(page("headline_no_body.html"), "https://echo.example/live")
    for one in (article, empty):
        save_article(store, one, Verdict(score=0.0, threshold=3.0, matches=()), ())
    [agency_id, empty_id] = [row["id"] for row in store.query("SELECT id FROM articles ORDER BY id")]
    kept = stored_article(store, agency_id)
    assert (kept.authors, kept.organisations, kept.updated) == ([], ["Reuters"], article.updated)
    assert stored_article(store, empty_id).text_missing == "no article text found"
    payload = build_event(
        "alert_x", kept, agency_id, Verdict(score=4.0, threshold=3.0, matches=()), "2024-01-09T09:00:00+00:00"
    )
    facts = payload["article"]
    assert (facts["authors"], facts["organisations"], facts["updated"]) == (
        [],
        ["Reuters"],
        "2024-01-09T08:00:00+00:00",
    )
    assert facts["text_missing"] is None
