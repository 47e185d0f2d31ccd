"""The documentation's own structure: each page's contents list names every
section, and every link between pages (README.md, docs/) reaches a file and a
heading that exist, with the anchors GitHub makes."""

import glob
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAGES = ["README.md"] + sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, "docs", "*.md")))


def text_of(page):
    """The page without its code blocks (a '## ' or a link in code is not one)."""
    return re.sub(r"^```.*?^```", "", open(os.path.join(REPO, page)).read(), flags=re.S | re.M)


def anchor(heading):
    """GitHub's anchor of a heading: lower case, punctuation but - and _ dropped,
    spaces to -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page):
    return {anchor(h) for h in re.findall(r"^#+ (.*)$", text_of(page), re.M)}


@pytest.mark.parametrize("page", PAGES)
def test_the_contents_list_names_every_section(page):
    text = text_of(page)
    listed = set(re.findall(r"^- \[[^\]]*\]\(#([^)]+)\)", text, re.M))
    if not listed:
        pytest.skip("no contents list")
    sections = {anchor(h) for h in re.findall(r"^## (.*)$", text, re.M)}
    assert sections - listed == set(), "sections missing from the contents"
    assert listed - anchors(page) == set(), "contents entries without a heading"


@pytest.mark.parametrize("page", PAGES)
def test_links_reach_a_file_and_a_heading(page):
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text_of(page)):
        if re.match(r"[a-z]+:", target):
            continue                                   # http:, mailto:
        path, _, frag = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
        if not os.path.exists(os.path.join(REPO, dest)):
            broken.append(target)
        elif frag and dest.endswith(".md") and frag not in anchors(dest):
            broken.append(target)
    assert broken == []
