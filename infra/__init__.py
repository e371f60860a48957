"""Coinhall's infrastructure as code: one AWS CDK app, one CloudFormation stack per stage.

``python infra/app.py --stage dev`` (or ``make synth``) synthesizes a stage
without AWS credentials; ``make deploy STAGE=dev`` deploys it. Modules:
``stages`` (what differs between dev and prod), ``tables`` (every DynamoDB
table, derived from the PynamoDB models), ``work_queue`` (deferred work + DLQ),
``app_secret`` (the stage's one secret), ``role`` (the app's least-privilege
role), ``alarms`` and ``stack`` (which puts them together around Chalice's own
CDK construct). Nothing here is deployed inside the Lambda bundle: Chalice
packages only ``app.py`` and ``chalicelib/``.
"""
