"""PynamoDB models, one module per table family, and the engine binding.

The models are the single source of truth for table names, keys and indexes:
``schema.table_specs()`` derives the CreateTable requests from them, for the
local engine, the tests and the CDK stack alike.
"""
