"""Leaderboard snapshots: the top 100 wallets of an economy, with ranks.

Written by the leaderboard job (and on demand when an economy has none yet);
read by ``/leaderboard``, My Card's rank and the ``#leaderboard`` message.
One small item per economy (100 rows of id, total, rank: a few KB).
"""
from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.db.base import CoinhallModel


class LeaderboardModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "leaderboards"

    economy = UnicodeAttribute(hash_key=True)
    entries = ListAttribute()  # [{"user_id", "total", "rank"}], best first
    players = NumberAttribute(default=0)  # wallets counted
    computed_at = UnicodeAttribute()
