"""Discord guilds: which economy a guild is, its role map, its hub channels.

One item per guild. ``economy`` is ``discord-<guild_id>`` for a guild created on
first use, or an existing economy an operator linked it to. ``role_map`` maps
Discord role ids to app roles (ADMIN, OPERATOR, SUPPORT, AUDITOR);
``channels``/``messages`` remember what ``/coins-setup`` created, so running it
again repairs instead of duplicating.

The sparse ``leaderboard_due`` index (``lb_shard``, ``lb_next_at``) lists every
guild with the time its leaderboard is next refreshed: the leaderboard job
queries what is due and never scans.
"""
from pynamodb.attributes import MapAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.db.base import CoinhallModel


class GuildsLeaderboardDue(GlobalSecondaryIndex):
    class Meta:
        index_name = "leaderboard_due"
        projection = AllProjection()

    lb_shard = UnicodeAttribute(hash_key=True)
    lb_next_at = UnicodeAttribute(range_key=True)


class GuildModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "discord_guilds"

    guild_id = UnicodeAttribute(hash_key=True)
    economy = UnicodeAttribute()
    role_map = MapAttribute(null=True)  # discord role id -> ADMIN | OPERATOR | SUPPORT | AUDITOR
    channels = MapAttribute(null=True)  # hub | leaderboard | shop | transactions -> channel id
    messages = MapAttribute(null=True)  # hub | leaderboard | shop -> message id
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    lb_shard = UnicodeAttribute(null=True)
    lb_next_at = UnicodeAttribute(null=True)

    leaderboard_due = GuildsLeaderboardDue()
