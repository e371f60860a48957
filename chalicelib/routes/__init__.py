"""The HTTP edge: Chalice blueprints, thin adapters over the capabilities.

Owns: ``_http`` (``endpoint()``: auth, body parsing, error shape, replay
headers), ``openapi`` (the document at ``/openapi.json``), the request and
response models (``models``, ``*_models``) and one blueprint per area
(``wallets``, ``content``, ``holds``, ``purchases``, ``rewards``, ``market``,
``admin``, ``discord``, ...), plus the schedules and the SQS consumer that
hand work to ``runtime``. A route parses, calls one feature function and
shapes the answer; it holds no business rule and touches no table.
"""
