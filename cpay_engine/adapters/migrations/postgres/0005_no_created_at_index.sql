-- History time bounds become seq bounds by bisecting seq (SqlUnitOfWork._stamp_crossing),
-- a few point reads per query, instead of through this index, which every payment wrote.
DROP INDEX transactions_created_at;
