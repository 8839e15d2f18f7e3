"""TurnBudget: the guard around tools that write, and the count of malformed tool calls."""

import json
import time

import pytest

from app.hub.llm import TurnBudget, WriteRefused, count_malformed_tool_calls


def test_a_write_is_refused_once_the_turn_is_cancelled():
    budget = TurnBudget(3)
    with budget.writing("book_slot"):
        pass
    budget.cancel()
    with pytest.raises(WriteRefused, match="handed off"), budget.writing("book_slot"):
        pass
    budget.cancel()  # a second cancel changes nothing
    assert budget.refused_writes == ["book_slot"]


def test_a_write_is_refused_past_the_deadline_or_without_a_call_left():
    with pytest.raises(WriteRefused, match="deadline"), TurnBudget(3, deadline=time.monotonic() - 0.1).writing("x"):
        pass
    spent = TurnBudget(1)
    spent.spend(b"{}")
    with pytest.raises(WriteRefused, match="no LLM call is left"), spent.writing("x"):
        pass


def test_malformed_tool_calls_are_counted():
    tools = [{"type": "function", "function": {"name": "search_faq"}}]
    calls = [
        {"function": {"name": "search_faq", "arguments": json.dumps({"query": "pix"})}},  # fine
        {"function": {"name": "search_faq", "arguments": "{broken"}},  # not JSON
        {"function": {"name": "search_faq", "arguments": json.dumps("a string")}},  # not an object
        {"function": {"name": "no_such_tool", "arguments": "{}"}},  # not offered
    ]
    body = json.dumps({"tools": tools, "messages": [{"role": "assistant", "tool_calls": calls}]}).encode()
    assert count_malformed_tool_calls(body) == 3
    budget = TurnBudget(1)
    budget.spend(body)
    assert "3 malformed tool call(s)" in budget.trouble()
    assert count_malformed_tool_calls(b"not json") == 0 and TurnBudget(1).trouble() == ""
