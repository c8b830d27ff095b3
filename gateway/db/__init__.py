"""The data layer: SQLModel tables, the async engine, migrations."""
