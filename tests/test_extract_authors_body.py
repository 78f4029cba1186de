"""Authors as people and a body that is not cut short: saved pages of each kind that went wrong, offline."""

from __future__ import annotations

from pathlib import Path

import lxml.html
import pytest

from monitor.extract import extract_article
from monitor.extract.bylines import people

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "metadata"


def page(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


# ---------------------------------------------------------------- authors


def test_a_byline_that_gives_the_date_first_still_names_the_author() -> None:
    article = extract_article(page("ab_byline_date_first.html"), "https://coast.example/path")
    assert article.authors == ["Sam O'Brien"]


def test_the_site_named_as_author_gives_way_to_the_person_the_byline_names() -> None:
    article = extract_article(page("ab_site_as_author.html"), "https://trust.example/meals")
    assert article.authors == ["Tracy Parker"]


def test_the_site_is_the_author_when_nothing_else_names_one() -> None:
    html = page("ab_site_as_author.html").replace('<p class="byline">by Tracy Parker, Dietitian</p>', "")
    html = html.replace('<p class="intro-copy">A seven-day plan by Tracy Parker, Dietitian</p>', "")
    assert extract_article(html, "https://trust.example/meals").authors == ["Harbour Health Trust"]


def test_a_page_builder_byline_is_not_taken_for_a_sidebar_widget() -> None:
    article = extract_article(page("ab_page_builder_byline.html"), "https://sleep.example/newborn")
    assert article.authors == ["Natalie Nevares"]


def test_a_one_word_author_meta_tag_is_kept() -> None:
    article = extract_article(page("ab_meta_author_one_word.html"), "https://games.example/winter")
    assert article.authors == ["Zach"]


def test_a_byline_in_pieces_is_read_with_spaces_and_a_dateline_before_it_is_skipped() -> None:
    # "Harry Rabinowitz" and "Tech Reporter" in two elements, after a date-only "author-date"
    article = extract_article(page("ab_byline_in_pieces.html"), "https://chips.example/plants")
    assert article.authors == ["Harry Rabinowitz"]


@pytest.mark.parametrize(
    ("byline", "names"),
    [
        # the date before the name
        ("16 December 2025 by Sam O'Brien", ["Sam O'Brien"]),
        ("Dec. 19, 2025 · Niko Matsakis on behalf of the docs team", ["Niko Matsakis"]),
        ("Updated January 08, 2026 Written by Meghan Neville Content Marketing Coordinator", ["Meghan Neville"]),
        # the lead word glued to the name
        ("Written byJack Shepherd", ["Jack Shepherd"]),
        ("Written by:Elise Nass", ["Elise Nass"]),
        # a job title after the comma, "and" inside it, and what follows it
        ("By Paul Frew, Home and Digital Security Expert", ["Paul Frew"]),
        ("by Dan Burke, Senior Director, Content & Marketing, Acme and Partners", ["Dan Burke"]),
        ("Written By: Catherine Boeckmann Executive Digital Editor and Master Gardener", ["Catherine Boeckmann"]),
        ("Article by: Cara Dumaplin RN, BSN, Certified Pediatric Sleep Consultant", ["Cara Dumaplin"]),
        # a beat before the role word, an avatar's initials, a month after the name
        ("Harry Rabinowitz Tech Reporter", ["Harry Rabinowitz"]),
        ("CM Craig McCarthy Last updated on 17 December 2025", ["Craig McCarthy"]),
        ("Wyndo Dec", ["Wyndo"]),
        ("Tom May", ["Tom May"]),
        # a reviewer is not an author
        ("By Shelby Loos, DVM. Reviewed by Molly Price, DVM", ["Shelby Loos"]),
        # a lead phrase, not a name; a date alone; a sentence that starts with "By"
        ("About Melissa Norris", ["Melissa Norris"]),
        ("August 28, 2025 • 5 min read", []),
        ("By default, we can use the photos you have on your website as well as our library.", []),
        ("Introducing the Growth Collective: A New Way to Earn, Grow, and Make an Impact", []),
    ],
)
def test_people_names_only_the_people(byline: str, names: list[str]) -> None:
    assert people(byline)[0] == names


# ---------------------------------------------------------------- body


def test_article_text_outside_paragraphs_is_not_cut_short() -> None:
    # three <p>s, then six <div>s of prose: the precise pass keeps only the <p>s
    article = extract_article(page("ab_text_outside_paragraphs.html"), "https://gazette.example/dredge")
    assert article.text.startswith("The harbour board met on Tuesday evening")
    assert "The third option moves the deep-water berth to the eastern quay" in article.text
    assert "promised a public exhibition of the plans" in article.text
    assert "Home" not in article.text and "Quay Street" not in article.text


def test_an_article_inside_a_header_of_the_main_content_is_not_cut_to_the_faq_below_it() -> None:
    # Some templates put the whole article in a <header> inside <main>. trafilatura's precise pass drops it and
    # keeps the FAQ below; the page's prose must still count it, so the fuller pass is asked for and taken.
    article = extract_article(page("ab_article_in_header.html"), "https://cover.example/blog/insurers")
    assert "Choosing an insurer means weighing networks" in article.text
    assert "In region west, brokers report" in article.text
    assert "Cover Guide" not in article.text.splitlines()[0]  # the page's own header stays out


def test_subheadings_the_precise_pass_drops_are_put_back_before_their_paragraphs() -> None:
    # trafilatura's precise pass drops some subheadings (one with its own anchor link, in some layouts): given
    # the text without them, each heading of the article's container goes back before its paragraph.
    from monitor.extract.article import _with_subheadings
    from monitor.extract.pagemeta import article_container, headline_element

    tree = lxml.html.fromstring(page("ab_subheadings.html"))
    headline = headline_element(tree)
    container = article_container(tree, headline)
    paragraphs = [" ".join(p.text_content().split()) for p in container.iter("p")]
    lines = _with_subheadings("\n".join(paragraphs), container, headline).splitlines()
    assert lines[2] == "Who pays for the new pier" and lines[3].startswith("The work will be paid for")
    assert lines[4] == "What happens meanwhile" and lines[5].startswith("Fishermen welcomed the decision")
    assert lines[7] == "Plans on show next week" and lines[8].startswith("Residents will be able to see")
    assert len(lines) == len(paragraphs) + 3  # nothing else added: the sidebar's "Most read" is not the article's


def test_a_subheading_the_precise_pass_kept_is_not_added_twice() -> None:
    article = extract_article(page("ab_subheadings.html"), "https://isle.example/news/pier")
    lines = article.text.splitlines()
    for heading, paragraph in (
        ("Who pays for the new pier", "The work will be paid for"),
        ("What happens meanwhile", "Fishermen welcomed the decision"),
        ("Plans on show next week", "Residents will be able to see"),
    ):
        assert heading in lines
        assert lines[lines.index(heading) + 1].startswith(paragraph)
    assert "Most read" not in lines  # a sidebar's heading is not the article's
    assert lines.count("Who pays for the new pier") == 1
