-- Issue 17. Written as ALTER/INDEX statements only, so that it applies whether or not
-- an earlier migration rebuilt the records table.

-- "4 Records Deleted Successfully" (the older API's success form): how many the
-- server said it deleted, kept in the audit row and shown by export --requests.
ALTER TABLE requests ADD COLUMN deleted_count INTEGER;
