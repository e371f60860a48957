"""Quest questions: each economy's trivia set (seeded with a few on creation)."""
from pynamodb.attributes import BooleanAttribute, ListAttribute, UnicodeAttribute

from chalicelib.db.base import CoinhallModel


class QuestionModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "quest_questions"

    economy = UnicodeAttribute(hash_key=True)
    question_id = UnicodeAttribute(range_key=True)
    question = UnicodeAttribute()
    answer = UnicodeAttribute()
    wrong = ListAttribute(of=UnicodeAttribute)  # the other choices
    active = BooleanAttribute(default=True)
    salt = UnicodeAttribute(null=True)  # keys the opaque choice values; never sent to a client
    created_at = UnicodeAttribute()
