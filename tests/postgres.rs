//! PostgreSQL collector against a real PostgreSQL 15 and postgres_exporter (in progress).
