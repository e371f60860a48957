"""Operators' notes about a user: append-only, one item per note.

Keyed by the economy (so the backup's ``query economy = E`` rule takes the table
as it is) with ``note_key`` = ``keys.join(user_id, note_id)``: one user's notes
are a ``begins_with`` query, newest first because note ids grow with time.
"""
from pynamodb.attributes import UnicodeAttribute

from chalicelib.db.base import CoinhallModel


class UserNoteModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "user_notes"

    economy = UnicodeAttribute(hash_key=True)
    note_key = UnicodeAttribute(range_key=True)
    note_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    text = UnicodeAttribute()
    actor = UnicodeAttribute()
    role = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
