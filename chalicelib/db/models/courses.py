"""The course registry: courses an economy pays a completion reward for.

One item per (economy, course_id): a title and the ``reward`` in coins paid
once per user who completes it. ``version`` orders concurrent edits; a delete
sets ``deleted_at`` (the item stays, so the audit trail and statements keep
naming it, and a later PUT brings it back).
"""
from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.db.base import CoinhallModel


class CourseModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "courses"

    economy = UnicodeAttribute(hash_key=True)
    course_id = UnicodeAttribute(range_key=True)
    title = UnicodeAttribute()
    reward = NumberAttribute()
    version = NumberAttribute(default=1)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    deleted_at = UnicodeAttribute(null=True)
