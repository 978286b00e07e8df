-- A transaction's receipt signature moves into its own row. The payload it signs is
-- rebuilt on read from the row and its postings (domain.receipts: canonical JSON, the
-- very bytes that were signed), so the receipts table only repeated the ledger and cost
-- every commit one more B-tree page. The signature still vouches for the row: change
-- an amount, a handle, a memo or a posting, and it no longer verifies (`cpay verify`).
ALTER TABLE transactions ADD COLUMN receipt_key_id TEXT;
ALTER TABLE transactions ADD COLUMN receipt_signature BLOB;
UPDATE transactions SET
    receipt_key_id = (SELECT r.key_id FROM receipts r WHERE r.seq = transactions.seq),
    receipt_signature = (SELECT r.signature FROM receipts r WHERE r.seq = transactions.seq);
DROP TRIGGER receipts_no_update;
DROP TRIGGER receipts_no_delete;
DROP TABLE receipts;
CREATE TRIGGER transactions_receipt_immutable
BEFORE UPDATE OF receipt_key_id, receipt_signature ON transactions
WHEN OLD.receipt_signature IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'receipts are immutable'); END;
CREATE TRIGGER transactions_no_delete BEFORE DELETE ON transactions
BEGIN SELECT RAISE(ABORT, 'transactions are never deleted'); END;
