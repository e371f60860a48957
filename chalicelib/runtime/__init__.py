"""Runtime: the mechanisms that run work outside a request, naming no feature.

Owns: the job registry and runner (``jobs``: bounded, resumable, reported),
the work queue with named topics and idempotent consumers (``queue``: SQS on
AWS, an in-process worker locally), the sparse due-index walker every expiry
job uses (``due``) and the local timers (``scheduler``). Which feature consumes
a topic or runs a job is wired at the edge, in ``chalicelib/wiring.py``.
"""
