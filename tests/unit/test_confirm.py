"""Reading Chatwoot's answers to tell whether our message was saved (app/worker/confirm.py)."""

import time

from app.worker.confirm import ABSENT, POSTED, UNKNOWN, Expected, from_conversation, from_messages

NOW = time.time()
CUSTOMER = {"id": 500, "content": "oi", "message_type": 0, "private": False, "created_at": int(NOW) - 5}


def ours(message_id=501, **kw):
    return {"id": message_id, "content": "Olá! Aceitamos pix.", "message_type": 1, "private": False,
            "created_at": int(NOW) + 1} | kw


def expected(anchors=(500,), **kw):
    return Expected(**({"content": "Olá! Aceitamos pix.", "private": False, "anchors": frozenset(anchors),
                        "since": NOW} | kw))


def show(newest, last=None):
    return {"id": 7, "last_non_activity_message": newest, "messages": [last or newest] if newest else []}


def test_our_reply_as_the_newest_message_is_posted():
    verdict, message = from_conversation(show(ours()), expected())
    assert verdict == POSTED and message["id"] == 501


def test_the_customers_message_still_newest_means_ours_was_not_saved():
    assert from_conversation(show(CUSTOMER), expected()) == (ABSENT, None)


def test_an_empty_conversation_or_only_activity_means_not_saved():
    assert from_conversation(show(None), expected()) == (ABSENT, None)
    activity = {"id": 502, "content": "Conversation was marked open", "message_type": 2, "created_at": int(NOW)}
    assert from_conversation({"last_non_activity_message": None, "messages": [activity]}, expected())[0] == ABSENT


def test_someone_writing_after_the_attempt_cannot_be_settled_from_the_conversation():
    later = CUSTOMER | {"id": 503, "content": "alô?", "created_at": int(NOW) + 2}
    assert from_conversation(show(later), expected()) == (UNKNOWN, None)


def test_an_identical_older_message_is_not_taken_for_ours():
    # Same text, but it is an anchor (we knew it before the attempt): not ours.
    assert from_conversation(show(ours(500)), expected()) == (ABSENT, None)
    # Same text, unknown id, but created long before the turn was decided: not ours either.
    old = ours(499, created_at=int(NOW) - 3600)
    assert from_conversation(show(old), expected(anchors=())) == (ABSENT, None)


def test_private_flag_and_direction_must_match():
    assert from_conversation(show(ours(private=True)), expected())[0] == UNKNOWN
    assert from_conversation(show(ours(message_type=0)), expected())[0] == UNKNOWN


def test_message_list_finds_ours_behind_a_newer_message():
    later = CUSTOMER | {"id": 503, "content": "alô?"}
    verdict, message = from_messages({"payload": [CUSTOMER, ours(), later]}, expected())
    assert verdict == POSTED and message["id"] == 501


def test_message_list_reaching_an_anchor_without_ours_means_not_saved():
    later = CUSTOMER | {"id": 503, "content": "alô?"}
    assert from_messages({"payload": [CUSTOMER, later]}, expected()) == (ABSENT, None)


def test_a_full_page_without_an_anchor_cannot_settle_it():
    page = [CUSTOMER | {"id": 600 + i, "content": f"m{i}", "created_at": int(NOW)} for i in range(20)]
    assert from_messages({"payload": page}, expected()) == (UNKNOWN, None)


def test_garbage_answers_settle_nothing():
    assert from_conversation(["not", "a", "conversation"], expected()) == (UNKNOWN, None)
    assert from_messages({"payload": "nope"}, expected()) == (UNKNOWN, None)
