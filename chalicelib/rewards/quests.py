"""Daily trivia quests: each economy's question set and today's question per player.

Each player gets one question a UTC day, picked by a hash of (economy, user,
day) so it is stable across clicks and containers without storing it. The
choices are shown in a shuffled order, and each carries an opaque value (an
HMAC of the seed and its place in ``[answer, *wrong]``, keyed by a random salt
stored with the question), so nothing the client receives says which one is
right, and the seed alone does not tell either.
"""
from __future__ import annotations

import hashlib
import hmac
import random
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any, Dict, List, Optional, Sequence, Tuple

from chalicelib.core import errors, keys
from chalicelib.core.ids import new_id, now_iso
from chalicelib.rewards import store

DEFAULT_QUESTIONS: Tuple[Tuple[str, str, Tuple[str, ...]], ...] = (
    ("q_ledger", "In double-entry bookkeeping, what must the legs of every transfer sum to?",
     "Zero", ("One", "The balance", "The fee")),
    ("q_planet", "Which planet is known as the Red Planet?", "Mars", ("Venus", "Jupiter", "Mercury")),
    ("q_bits", "How many bits are in a byte?", "8", ("4", "16", "10")),
    ("q_ocean", "What is the largest ocean on Earth?", "Pacific", ("Atlantic", "Indian", "Arctic")),
    ("q_leap", "How many days does a leap year have?", "366", ("365", "364", "360")),
    ("q_bps", "How many basis points make one percent?", "100", ("10", "1", "1000")),
)


@dataclass(frozen=True)
class Question:
    question_id: str
    question: str
    answer: str
    wrong: Tuple[str, ...]
    salt: str = ""  # random per economy and question, never sent to a client

    def choices(self, seed: str) -> List[Tuple[str, str]]:
        """(value, label) pairs in the display order for ``seed``.

        Values are opaque tokens derived from the seed (the player's client sees
        them in the component JSON, so they must not say which one is right).
        """
        labelled = [(self._token(seed, i), text) for i, text in enumerate((self.answer, *self.wrong))]
        random.Random(self._token(seed, -1)).shuffle(labelled)
        return labelled

    def is_correct(self, value: str, seed: str) -> bool:
        return hmac.compare_digest(value, self._token(seed, 0))

    def _token(self, seed: str, index: int) -> str:
        # Keyed by the stored salt: the seed alone is computable by anyone who
        # knows the economy, the user and the day.
        message = keys.join(seed, str(index), sep="|").encode()
        return hmac.new(self.salt.encode(), message, hashlib.sha256).hexdigest()[:16]


def seed_questions(economy: str, questions: Sequence[Tuple[str, str, Tuple[str, ...]]] = DEFAULT_QUESTIONS, *,
                   salted: bool = True) -> int:
    """Put the default questions where missing; returns how many were written.

    ``salted=False`` stores them with the empty salt the built-in defaults use, so a set an
    operator's first edit stores keeps answering today's choices as they were shown.
    """
    written = 0
    for question_id, text, answer, wrong in questions:
        now = now_iso()
        item = {"economy": economy, "question_id": question_id, "question": text, "answer": answer,
                "wrong": list(wrong), "active": True, "salt": secrets.token_hex(16) if salted else "",
                "version": 1, "created_at": now, "updated_at": now}
        if store.put_question(item, if_absent=True):
            written += 1
    return written


def validate_question(question: str, answer: str, wrong: Sequence[str]) -> None:
    """Raises ValidationFailedError (or AnswerAmongWrongError) unless the question, its answer and 1-4 wrong choices make a quest."""
    choices = [answer, *wrong]
    if not question.strip() or len(question) > 256:
        raise errors.ValidationFailedError("The question must be 1-256 characters.", field="question")
    if not 1 <= len(wrong) <= 4 or any(not c.strip() or len(c) > 100 for c in choices):
        raise errors.ValidationFailedError("Give 1-4 wrong choices; every choice 1-100 characters.", field="wrong")
    if len(set(wrong)) != len(wrong):
        raise errors.ValidationFailedError("The wrong choices must differ.", field="wrong")
    if answer in wrong:
        raise errors.AnswerAmongWrongError(field="answer")


def question_item(economy: str, question: str, answer: str, wrong: Sequence[str]) -> Dict[str, Any]:
    """A new question's item (a new id and salt). Raises ValidationFailedError."""
    validate_question(question, answer, wrong)
    now = now_iso()
    return {"economy": economy, "question_id": new_id("q_"), "question": question, "answer": answer,
            "wrong": list(wrong), "active": True, "salt": secrets.token_hex(16), "version": 1, "created_at": now,
            "updated_at": now}


def add_question(economy: str, question: str, answer: str, wrong: Sequence[str]) -> Question:
    """Add a question to the economy's set. Raises ValidationFailedError."""
    item = question_item(economy, question, answer, wrong)
    store.put_question(item, if_absent=False)
    return Question(item["question_id"], question, answer, tuple(wrong), item["salt"])


def question_set(economy: str) -> List[Question]:
    """The economy's active questions, by id (the defaults when it has none)."""
    found = [
        Question(q["question_id"], q["question"], q["answer"], tuple(q.get("wrong") or ()), q.get("salt") or "")
        for q in store.query_questions(economy)
        if q.get("active", True)
    ]
    if not found:
        found = [Question(i, t, a, w) for i, t, a, w in DEFAULT_QUESTIONS]
    return sorted(found, key=lambda q: q.question_id)


def seed_for(economy: str, user_id: str, day: date) -> str:
    return hashlib.sha256(keys.join(economy, user_id, day.isoformat(), sep="|").encode()).hexdigest()


def todays_question(economy: str, user_id: str, day: date) -> Question:
    questions = question_set(economy)
    seed = seed_for(economy, user_id, day)
    return questions[int(seed[:8], 16) % len(questions)]


def find_question(economy: str, question_id: str) -> Optional[Question]:
    return next((q for q in question_set(economy) if q.question_id == question_id), None)
