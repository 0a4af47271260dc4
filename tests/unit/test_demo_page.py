"""The demo page's rendering of Telegram's formatted text: entities at UTF-16 offsets, nested, escaped."""

from __future__ import annotations

from emulators.demo.page import entities_html


def test_entities_become_tags_at_utf16_offsets() -> None:
    text = "📷 Tap Open Google Photos"  # the emoji is two UTF-16 code units
    bold = {"type": "bold", "offset": 7, "length": 18}
    assert entities_html(text, [bold]) == "📷 Tap <b>Open Google Photos</b>"


def test_nested_entities_links_and_escaping() -> None:
    text = "Go to <site> now\nok"
    entities = [
        {"type": "italic", "offset": 0, "length": 16},
        {"type": "text_link", "offset": 6, "length": 6, "url": "https://example.com/?a=1&b=2"},
    ]
    assert entities_html(text, entities) == (
        '<i>Go to <a href="https://example.com/?a=1&amp;b=2" target="_blank" rel="noopener">&lt;site&gt;</a>'
        " now</i><br>ok"
    )


def test_unknown_entities_leave_plain_text() -> None:
    assert entities_html("/pick", [{"type": "bot_command", "offset": 0, "length": 5}]) == "/pick"
