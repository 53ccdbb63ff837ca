"""The lead inbox in a real browser: Debian's chromium driven by selenium through
chromium-driver (both from apt, installed by ``.ci/run``; nothing downloaded at test time).

A rep logs in, sees the inbox sorted by grade, opens a lead, rejects it with a reason, and finds
the rejection counted in the feedback report. Screenshots of the inbox and the lead page are
written to ``$LEADSCORE_TEST_ARTIFACTS`` (default ``test-artifacts/``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser_support import artifacts, chromium, needs_browser
from tests.inbox_support import OWNERS, Inbox, inbox
from tests.test_serving_support import ServingModel, serving_model

pytestmark = needs_browser


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ServingModel:
    return serving_model(tmp_path_factory)


@pytest.fixture(scope="module")
def app(model: ServingModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inbox]:
    with inbox(model, tmp_path_factory.mktemp("inbox-browser")) as running_inbox:
        yield running_inbox


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


def _wait(browser: Any, condition: Any) -> None:
    """Wait for ``condition(browser)`` across a page load (a form's navigation may still be
    under way when ``click`` returns: elements of the old page go stale)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 10, ignored_exceptions=(StaleElementReferenceException,)).until(
        condition
    )


def test_rep_rejects_a_lead_and_finds_it_in_the_report(app: Inbox, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(app.url + "/")
    assert "/login" in browser.current_url  # no session: the login page
    browser.find_element(By.ID, "token").send_keys(app.token)
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    _wait(browser, lambda b: b.find_element(By.TAG_NAME, "h1").text == "Lead inbox")
    rows = browser.find_elements(By.CSS_SELECTOR, "#leads tbody tr[data-grade]")
    grades = [row.get_attribute("data-grade") for row in rows]
    assert len(grades) == 50 and grades == sorted(grades)
    shown = [row.find_element(By.CSS_SELECTOR, "td.grade").text for row in rows]
    assert shown == grades
    assert rows[0].find_elements(By.CSS_SELECTOR, "ul.reasons li")  # reasons in words
    caption = browser.find_element(By.CSS_SELECTOR, "#leads caption").text
    assert re.match(r"\d{1,3}(,\d{3})* leads, best grade first", caption), caption
    inbox_png = artifacts() / "inbox.png"
    assert browser.save_screenshot(str(inbox_png)) and inbox_png.stat().st_size > 0

    Select(browser.find_element(By.NAME, "owner")).select_by_value(OWNERS[0])  # no JS: a GET form
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    _wait(browser, lambda b: f"owner={OWNERS[0]}" in b.current_url)
    _wait(browser, lambda b: b.execute_script("return document.readyState") == "complete")
    rows = browser.find_elements(By.CSS_SELECTOR, "#leads tbody tr[data-grade]")
    assert rows and {row.get_attribute("data-owner") for row in rows} == {OWNERS[0]}
    assert f"owner={OWNERS[0]}" in browser.current_url

    contact = rows[0].get_attribute("data-contact")
    rows[0].find_element(By.TAG_NAME, "a").click()
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith(f"Lead {contact}")
    assert browser.find_elements(By.CSS_SELECTOR, "#reasons-for li")
    lead_png = artifacts() / "lead.png"
    assert browser.save_screenshot(str(lead_png)) and lead_png.stat().st_size > 0
    browser.find_element(By.CSS_SELECTOR, "input[name='reason'][value='spam_bot']").click()
    browser.find_element(By.ID, "note").send_keys("signed up with a throwaway domain")
    browser.find_element(By.CSS_SELECTOR, "button[value='rejected']").click()
    assert "Verdict recorded: rejected" in browser.find_element(By.CLASS_NAME, "saved").text
    assert "Spam or bot" in browser.find_element(By.ID, "verdicts").text

    browser.find_element(By.LINK_TEXT, "Feedback report").click()
    assert "1 verdict, 0 accepted" in browser.find_element(By.ID, "summary").text
    tables = {
        t.find_element(By.TAG_NAME, "caption").text: t.text
        for t in browser.find_elements(By.TAG_NAME, "table")
    }
    assert "spam_bot 1 1.0" in tables["Reasons reps reject leads for"]
    assert "ann.rep 1 0 1 0.0" in tables["Acceptance per rep"]
    stored = app.store.feedback(detail=True)
    assert stored[["contact_id", "verdict", "reason", "rep"]].values.tolist() == [
        [contact, "rejected", "spam_bot", "ann.rep"]
    ]
