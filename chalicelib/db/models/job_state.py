"""Scheduled jobs' own state: checkpoints, leases and last reports.

One item per (job, scope); the scope is an economy id (or ``*``). A job claims
an item with a conditional update on ``lease_until`` before working on its
scope, so two overlapping runs never work one economy at once, and a run that
dies frees it when the lease runs out. Checkpoints (``since``, ``shards``) move
forward only when a run over the scope completes; ``progress`` lets a run that
ran out of time resume where it stopped.
"""
from pynamodb.attributes import MapAttribute, UnicodeAttribute

from chalicelib.db.base import CoinhallModel


class JobStateModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "job_state"

    job = UnicodeAttribute(hash_key=True)
    scope = UnicodeAttribute(range_key=True)
    since = UnicodeAttribute(null=True)  # start of the last completed run (ISO)
    full_since = UnicodeAttribute(null=True)  # start of the last completed full run
    shards = MapAttribute(null=True)  # system shard -> {"sk": last entry folded, "sum": its running sum}
    progress = MapAttribute(null=True)  # an unfinished run: mode, run_started, after (account cursor)
    lease_until = UnicodeAttribute(null=True)
    lease_owner = UnicodeAttribute(null=True)
    last_report = MapAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)
