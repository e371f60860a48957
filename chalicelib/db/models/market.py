"""The market's tables: rewards catalog, orders, listings, limit counters, vouchers, sales, prices.

* ``rewards`` (economy, sku): the shop's catalog. Never removed (a delete sets
  ``deleted_at``), so a refund can always give stock back to the item.
  ``stock_left`` is counted on every sale; ``unlimited`` says whether it binds.
* ``orders`` (economy, order_id): what was bought, for whom, and its state
  (pending -> fulfilled | refunded | cancelled). The coins sit in a hold with
  the same id (``holds`` table, ``kind = "order"``) whose resolution changes
  the order in the same transaction. GSI ``by_buyer`` (``owner``, ``created_at``).
* ``listings`` (economy, listing_id): a player's offer. GSI ``by_sku``
  (``sku_key`` = ``<economy>#<sku>``, ``state_key`` = ``<status>#<created_at>``)
  lists a SKU's listings by state; sparse GSI ``due`` (``due_shard`` only while
  active, ``expires_at``) feeds the expiry job.
* ``market_counters`` (counter): per-player-per-day and per-buyer-per-listing
  units, changed only by conditional ``ADD`` inside the order's transaction.
* ``vouchers`` (code_hash): a voucher code's SHA-256 (never the code) -> its order.
* ``sales`` (``sku_key``, ``sold_key`` = ``<sold_at>#<order_id>``): one row per
  fulfilled order, the rollup's input; sparse GSI ``pending`` (``rollup_shard``)
  holds the rows the rollup has not seen yet.
* ``prices`` (``sku_key``): the latest rollup the guards read; sparse GSI
  ``due`` (``due_shard``, ``due_at``) says when it must be recomputed.
* ``price_history`` (``sku_key``, ``computed_at``): every rollup, kept 90 days.
"""
from pynamodb.attributes import BooleanAttribute, MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.db.base import CoinhallModel


class RewardModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "rewards"

    economy = UnicodeAttribute(hash_key=True)
    sku = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    category = UnicodeAttribute()  # money | rank | cosmetic | voucher
    price = NumberAttribute()
    fulfilment = UnicodeAttribute()  # api | voucher
    payload = MapAttribute(null=True)
    daily_limit = NumberAttribute(null=True)  # units per player per UTC day
    unlimited = BooleanAttribute()
    stock_left = NumberAttribute()
    sold = NumberAttribute(default=0)
    visible = BooleanAttribute()
    expires_at = UnicodeAttribute(null=True)
    deleted_at = UnicodeAttribute(null=True)
    version = NumberAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class OrdersByBuyer(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_buyer"
        projection = AllProjection()

    owner = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class OrderModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "orders"

    economy = UnicodeAttribute(hash_key=True)
    order_id = UnicodeAttribute(range_key=True)  # also the id of its hold
    kind = UnicodeAttribute()  # shop | listing
    buyer_id = UnicodeAttribute()
    owner = UnicodeAttribute()  # <economy>#<buyer_id>
    player_id = UnicodeAttribute()
    sku = UnicodeAttribute()
    name = UnicodeAttribute()
    category = UnicodeAttribute()
    qty = NumberAttribute()
    unit_price = NumberAttribute()
    total = NumberAttribute()
    fee_bps = NumberAttribute()
    seller_id = UnicodeAttribute(null=True)
    listing_id = UnicodeAttribute(null=True)
    fulfilment = UnicodeAttribute()  # api | voucher
    action = UnicodeAttribute()
    payload = MapAttribute(null=True)
    status = UnicodeAttribute()  # pending | fulfilled | refunded | cancelled
    created_at = UnicodeAttribute()
    expires_at = UnicodeAttribute()
    resolved_at = UnicodeAttribute(null=True)
    resolution = UnicodeAttribute(null=True)
    seller_amount = NumberAttribute(null=True)
    fee_amount = NumberAttribute(null=True)
    attempts = NumberAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    redeemed_by = UnicodeAttribute(null=True)
    discord = MapAttribute(null=True)  # guild, user, interaction: where to tell the buyer

    by_buyer = OrdersByBuyer()


class ListingsBySku(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_sku"
        projection = AllProjection()

    sku_key = UnicodeAttribute(hash_key=True)
    state_key = UnicodeAttribute(range_key=True)


class ListingsDue(GlobalSecondaryIndex):
    class Meta:
        index_name = "due"
        projection = AllProjection()

    due_shard = UnicodeAttribute(hash_key=True)
    expires_at = UnicodeAttribute(range_key=True)


class ListingModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "listings"

    economy = UnicodeAttribute(hash_key=True)
    listing_id = UnicodeAttribute(range_key=True)
    seller_id = UnicodeAttribute()
    sku = UnicodeAttribute()
    sku_key = UnicodeAttribute()
    state_key = UnicodeAttribute()
    status = UnicodeAttribute()  # active | cancelled | expired ("sold_out" is active with nothing left)
    qty = NumberAttribute()
    available = NumberAttribute()
    sold = NumberAttribute()
    unit_price = NumberAttribute()
    fee_bps = NumberAttribute()
    min_per_buyer = NumberAttribute(null=True)
    max_per_buyer = NumberAttribute(null=True)
    fingerprint = UnicodeAttribute()
    created_at = UnicodeAttribute()
    expires_at = UnicodeAttribute()
    closed_at = UnicodeAttribute(null=True)
    due_shard = UnicodeAttribute(null=True)

    by_sku = ListingsBySku()
    due = ListingsDue()


class CounterModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "market_counters"
        ttl_attribute = "expires_epoch"

    counter = UnicodeAttribute(hash_key=True)
    n = NumberAttribute()
    expires_epoch = NumberAttribute(null=True)


class VoucherModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "vouchers"

    code_hash = UnicodeAttribute(hash_key=True)
    economy = UnicodeAttribute()
    order_id = UnicodeAttribute()
    status = UnicodeAttribute()  # pending | redeemed | void
    created_at = UnicodeAttribute()
    redeemed_at = UnicodeAttribute(null=True)
    redeemed_by = UnicodeAttribute(null=True)


class SalesPending(GlobalSecondaryIndex):
    class Meta:
        index_name = "pending"
        projection = AllProjection()

    rollup_shard = UnicodeAttribute(hash_key=True)
    sold_at = UnicodeAttribute(range_key=True)


class SaleModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "sales"
        ttl_attribute = "expires_epoch"

    sku_key = UnicodeAttribute(hash_key=True)
    sold_key = UnicodeAttribute(range_key=True)
    economy = UnicodeAttribute()
    sku = UnicodeAttribute()
    order_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    qty = NumberAttribute()
    unit_price = NumberAttribute()
    sold_at = UnicodeAttribute()
    rollup_shard = UnicodeAttribute(null=True)
    expires_epoch = NumberAttribute()

    pending = SalesPending()


class PricesDue(GlobalSecondaryIndex):
    class Meta:
        index_name = "due"
        projection = AllProjection()

    due_shard = UnicodeAttribute(hash_key=True)
    due_at = UnicodeAttribute(range_key=True)


class PriceModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "prices"

    sku_key = UnicodeAttribute(hash_key=True)
    economy = UnicodeAttribute()
    sku = UnicodeAttribute()
    median_7d = NumberAttribute(null=True)
    avg_7d = NumberAttribute(null=True)
    units_7d = NumberAttribute(null=True)
    volume_24h = NumberAttribute(null=True)
    coins_24h = NumberAttribute(null=True)
    computed_at = UnicodeAttribute(null=True)
    rev = NumberAttribute(default=0)
    due_shard = UnicodeAttribute(null=True)
    due_at = UnicodeAttribute(null=True)

    due = PricesDue()


class PriceHistoryModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "price_history"
        ttl_attribute = "expires_epoch"

    sku_key = UnicodeAttribute(hash_key=True)
    computed_at = UnicodeAttribute(range_key=True)
    median_7d = NumberAttribute(null=True)
    avg_7d = NumberAttribute(null=True)
    units_7d = NumberAttribute()
    volume_24h = NumberAttribute()
    coins_24h = NumberAttribute()
    expires_epoch = NumberAttribute()
