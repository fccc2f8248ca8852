"""The count of values a JSON body holds, made before it is parsed (proxyd/http/json_values.py)."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from proxyd.http.json_values import count_values, more_values_than

# Strings that hold what the count looks for, escaped as JSON escapes them: quotes, backslashes, brackets.
TRICKY = ['a"b', "\\", '\\"', "{[,:]}", '\\\\"{', "é ü", "\n\t", "", '"', "\\\\\\"]


def counted(value: Any) -> int:
    """What the count should be: each container, each separator between items and each key's colon."""
    if isinstance(value, dict):
        return 1 + max(len(value) - 1, 0) + sum(1 + counted(v) for v in value.values())
    if isinstance(value, list):
        return 1 + max(len(value) - 1, 0) + sum(counted(v) for v in value)
    return 0


def document(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth < 5 and roll < 0.3:
        return {rng.choice(TRICKY) + str(i): document(rng, depth + 1) for i in range(rng.randint(0, 4))}
    if depth < 5 and roll < 0.6:
        return [document(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return rng.choice([0, -1.5e3, True, None, *TRICKY])


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, 1 << 20])
def test_the_count_is_exact_whatever_the_strings_hold_and_wherever_the_steps_fall(step: int) -> None:
    rng = random.Random(step)
    for _ in range(300):
        value = document(rng)
        for raw in (orjson.dumps(value), orjson.dumps(value, option=orjson.OPT_INDENT_2)):
            assert count_values(raw, step=step) == counted(value), raw


def test_a_body_past_the_limit_is_told_apart_from_one_at_it() -> None:
    at_limit = orjson.dumps({"messages": ["x"] * 999, "model": "m"})  # { : [ and 998 commas, then , :
    assert count_values(at_limit) == 1003
    assert not more_values_than(at_limit, 1003)
    assert more_values_than(at_limit, 1002)
    # Commas, colons and brackets inside a string are text: a long one counts nothing.
    assert not more_values_than(orjson.dumps({"text": ",:[{" * 10_000}), 10)


def test_the_count_stops_once_past_the_limit() -> None:
    raw = b"[" + b",".join([b"0"] * 3_000_000) + b"]"
    assert count_values(raw, stop_above=10, step=1 << 10) == 512  # the first 1,024 bytes: a bracket, 511 commas
    assert more_values_than(raw, 2_999_999) and not more_values_than(raw, 3_000_000)
