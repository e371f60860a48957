"""PynamoDB models: one module per table (or family of tables)."""
