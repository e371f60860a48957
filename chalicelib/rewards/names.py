"""Rewards' ids, for the edge to validate with at cold start (a leaf: no store loads with it)."""
from __future__ import annotations

import re
from typing import Any

_COURSE_ID = re.compile(r"^[A-Za-z0-9_.:@|-]{1,128}$")


def valid_course_id(course_id: Any) -> bool:
    return isinstance(course_id, str) and bool(_COURSE_ID.match(course_id))


QUESTION_ID = re.compile(r"^q_[A-Za-z0-9_]{1,40}$")


def valid_question_id(question_id: Any) -> bool:
    return isinstance(question_id, str) and bool(QUESTION_ID.match(question_id))
