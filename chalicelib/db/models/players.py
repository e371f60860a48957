"""Player profiles: the non-money state of rewards (streaks, badges, quests).

One item per (economy, user). Written only as a ``SideWrite`` inside the ledger
operation that pays the reward (conditioned on what the reward read), or, for
a wrong quest answer that pays nothing, by one conditional update. So a streak
and its coins move together or not at all.
"""
from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.db.base import CoinhallModel


class PlayerModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "players"

    economy = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(range_key=True)
    streak = NumberAttribute(default=0)
    best_streak = NumberAttribute(default=0)
    last_daily = UnicodeAttribute(null=True)  # YYYY-MM-DD (UTC) of the last daily claim
    daily_count = NumberAttribute(default=0)
    badges = ListAttribute(null=True)  # e.g. ["streak_7", "streak_30"]
    quest_date = UnicodeAttribute(null=True)  # YYYY-MM-DD of the last quest answered
    quest_correct = NumberAttribute(null=True)  # 1 when that answer was right
    quests_won = NumberAttribute(default=0)
    updated_at = UnicodeAttribute(null=True)
