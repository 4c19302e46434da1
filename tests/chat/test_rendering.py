from __future__ import annotations

import re
import uuid

import pytest

from chat.models import Message
from chat.rendering import render_fragment, render_markdown

HOSTILE = [
    '<script>alert("x")</script>',
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    "<iframe src='https://evil.example'></iframe>",
    '<svg onload="alert(1)"></svg>',
    "<style>body{display:none}</style>",
    '<div onclick="steal()">hi</div>',
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_model_markdown_comes_out_inert(text: str) -> None:
    html = str(render_markdown(text)).lower()
    for tag in ("<script", "<img", "<iframe", "<svg", "<style"):
        assert tag not in html
    assert not re.search(r"<[^>]*\son\w+=", html)  # no event handler on any real tag
    assert not re.search(r"<a [^>]*href=\"javascript:", html)


def test_markdown_is_rendered() -> None:
    html = str(
        render_markdown(
            "# Title\n\n**bold** and `code`\n\n- a\n- b\n\n| x | y |\n|---|---|\n| 1 | 2 |"
        )
    )
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    assert "<code>code</code>" in html and "<li>a</li>" in html and "<td>1</td>" in html


def test_links_get_a_safe_rel() -> None:
    html = str(render_markdown("[site](https://example.org)"))
    assert 'href="https://example.org"' in html and "noopener" in html


@pytest.mark.parametrize("text", HOSTILE)
def test_a_delta_fragment_escapes_model_text(text: str) -> None:
    html = render_fragment("delta", {"message_id": 7, "text": text})
    assert html.startswith('<div hx-swap-oob="beforeend:#msg-7-body">')
    assert "<script" not in html and "<img" not in html and "<iframe" not in html


def test_a_streaming_message_fragment_escapes_and_swaps_the_message() -> None:
    message = Message(pk=3, role="assistant", status="streaming", content="<b>x</b>")
    html = render_fragment("message", {"m": message})
    assert 'id="msg-3"' in html and 'hx-swap-oob="outerHTML"' in html
    assert 'data-status="streaming"' in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_a_failed_message_offers_retry_with_a_reason() -> None:
    message = Message(pk=4, role="assistant", status="failed", error_code="timeout", content="Part")
    html = render_fragment("message", {"m": message})
    assert "took too long" in html and 'data-action="retry"' in html and "Part" in html


def test_an_unknown_error_code_still_reads_like_a_sentence() -> None:
    message = Message(pk=5, role="assistant", status="failed", error_code="kaboom", content="")
    html = render_fragment("message", {"m": message})
    assert "Something went wrong on our side" in html and "kaboom" not in html


def test_a_user_message_fragment_shows_text_as_typed() -> None:
    message = Message(pk=6, role="user", status="complete", content="**not bold** <i>")
    html = render_fragment("message", {"m": message})
    assert "**not bold** &lt;i&gt;" in html


PLAIN = [("user", "complete"), ("assistant", "pending"), ("assistant", "streaming")]


@pytest.mark.parametrize("text", [*HOSTILE, "a & b < c", "'quotes\""])
@pytest.mark.parametrize(("role", "status"), PLAIN)
def test_a_message_frame_shows_unfinished_text_escaped(role: str, status: str, text: str) -> None:
    from chat.live.frames import message_frame

    frame = message_frame(Message(id=7, role=role, status=status, content=text))
    assert "<script" not in frame and not re.search(r"<[^>]*\son\w+=", frame)
    assert 'id="msg-7"' in frame and 'hx-swap-oob="outerHTML"' in frame


@pytest.mark.parametrize("text", HOSTILE)
def test_an_exchange_frame_appends_both_messages_escaped(text: str) -> None:
    from chat.live.frames import exchange_frame
    from chat.services import ReplyJob

    user = Message(id=8, role="user", status="complete", content=text)
    reply = Message(id=9, role="assistant", status="pending", content="")
    job = ReplyJob(conversation_id=uuid.uuid4(), reply=reply, user_message=user, history=[],
                   needs_title=False)  # fmt: skip
    frame = exchange_frame(job)
    assert 'hx-swap-oob="beforeend:#messages"' in frame
    assert frame.index('id="msg-8"') < frame.index('id="msg-9"')
    assert "<script" not in frame


def test_a_retry_frame_swaps_only_the_reset_reply() -> None:
    from chat.live.frames import exchange_frame
    from chat.services import ReplyJob

    reply = Message(id=9, role="assistant", status="pending", content="")
    job = ReplyJob(conversation_id=uuid.uuid4(), reply=reply, user_message=None, history=[],
                   needs_title=False)  # fmt: skip
    frame = exchange_frame(job)
    assert 'id="msg-9"' in frame and "beforeend:#messages" not in frame


@pytest.mark.parametrize("text", [*HOSTILE, " plain words", "a & b < c"])
def test_a_delta_frame_appends_escaped_text_to_its_reply(text: str) -> None:
    from chat.live.frames import delta_frame

    frame = delta_frame(42, text)
    assert frame.startswith('<div hx-swap-oob="beforeend:#msg-42-body">')
    assert "<script" not in frame and frame.endswith("</div>")


# --- sketches: the frames sent most, filled in, equal to their full render ---------------


@pytest.mark.parametrize("text", [*HOSTILE, "plain words", "a & b < c", "'quotes\"", "\x001\x00"])
@pytest.mark.parametrize(("role", "status"), PLAIN)
def test_a_sketched_message_frame_equals_the_rendered_one(
    role: str, status: str, text: str
) -> None:
    from chat.live.frames import message_frame

    message = Message(id=7, role=role, status=status, content=text)
    assert message_frame(message) == render_fragment("message", {"m": message})
    assert "<script" not in message_frame(message)


@pytest.mark.parametrize("text", [*HOSTILE, "plain words", "\x000\x00"])
def test_a_sketched_exchange_frame_equals_the_rendered_one(text: str) -> None:
    from chat.live.frames import exchange_frame
    from chat.services import ReplyJob

    user = Message(id=8, role="user", status="complete", content=text)
    reply = Message(id=9, role="assistant", status="pending", content="")
    job = ReplyJob(conversation_id=uuid.uuid4(), reply=reply, user_message=user, history=[],
                   needs_title=False)  # fmt: skip
    rendered = render_fragment("exchange", {"user_message": user, "reply": reply})
    assert exchange_frame(job) == rendered and 'id="msg-9"' in rendered
    assert "<script" not in rendered


@pytest.mark.parametrize(
    ("status", "error_code", "shows"),
    [("complete", "", "<strong>bold</strong>"), ("failed", "timeout", "took too long")],
)
def test_finished_and_failed_replies_are_rendered_in_full(
    status: str, error_code: str, shows: str
) -> None:
    from chat.live.frames import message_frame

    reply = Message(id=10, role="assistant", status=status, error_code=error_code,
                    content="**bold**")  # fmt: skip
    assert shows in message_frame(reply)
    assert message_frame(reply) == render_fragment("message", {"m": reply})


@pytest.mark.parametrize("text", [*HOSTILE, " plain words", "a & b < c", "'quotes\""])
def test_the_fast_delta_frame_equals_its_template(text: str) -> None:
    from chat.live.frames import delta_frame

    assert delta_frame(42, text) == render_fragment("delta", {"message_id": 42, "text": text})
    assert "<script" not in delta_frame(42, text)


def test_a_fragment_that_does_not_show_a_field_as_is_is_refused() -> None:
    from chat.live.sketches import fragment_renderer

    with pytest.raises(ValueError, match="as is"):
        fragment_renderer("accepted", "clear_composer")(clear_composer=True)


def test_a_person_s_message_that_failed_is_rendered_in_full() -> None:
    from chat.live.frames import message_frame

    message = Message(id=11, role="user", status="failed", error_code="timeout", content="hi")
    assert message_frame(message) == render_fragment("message", {"m": message})


def test_a_template_that_changes_the_text_is_not_sketched() -> None:
    from django.utils.html import escape

    from chat.live.sketches import checked_sketch

    def shouting(message: Message) -> str:
        return f"<p id={message.pk}>{escape(message.content).upper()}</p>"

    def plain(message: Message) -> str:
        return f"<p id={message.pk}>{escape(message.content)}</p>"

    assert checked_sketch(shouting, [("user", "complete")]) is None
    assert checked_sketch(plain, [("user", "complete")]) is not None
