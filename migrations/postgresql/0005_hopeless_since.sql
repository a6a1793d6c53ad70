-- PostgreSQL twin of migrations/0005_hopeless_since.sql.
ALTER TABLE senders ADD COLUMN since DOUBLE PRECISION;
