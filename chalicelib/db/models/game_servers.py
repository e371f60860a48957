"""Game servers: who may redeem vouchers, for which economy, with which HMAC secret(s).

``game_servers`` (server_id): one row per game server an operator registered.
``secret`` signs its redeem webhooks; after a rotation ``previous_secret`` also
verifies until ``previous_expires_at``. A revoked row keeps its id and economy
(the audit trail names it) but no secret. GSI ``by_economy`` lists an economy's.
"""
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.db.base import CoinhallModel


class GameServersByEconomy(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_economy"
        projection = AllProjection()

    economy = UnicodeAttribute(hash_key=True)
    server_id = UnicodeAttribute(range_key=True)


class GameServerModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "game_servers"

    server_id = UnicodeAttribute(hash_key=True)
    economy = UnicodeAttribute()
    label = UnicodeAttribute(null=True)
    secret = UnicodeAttribute(null=True)
    secret_created_at = UnicodeAttribute(null=True)
    previous_secret = UnicodeAttribute(null=True)
    previous_expires_at = UnicodeAttribute(null=True)
    revoked_at = UnicodeAttribute(null=True)
    version = NumberAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    by_economy = GameServersByEconomy()
