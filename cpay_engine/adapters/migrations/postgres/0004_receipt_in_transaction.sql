-- A transaction's receipt signature moves into its own row. The payload it signs is
-- rebuilt on read from the row and its postings (domain.receipts: canonical JSON, the
-- very bytes that were signed), so the receipts table only repeated the ledger and cost
-- every payment one more insert. The signature still vouches for the row: change an
-- amount, a handle, a memo or a posting, and it no longer verifies (`cpay verify`).
ALTER TABLE transactions ADD COLUMN receipt_key_id TEXT, ADD COLUMN receipt_signature BYTEA;
UPDATE transactions t SET receipt_key_id = r.key_id, receipt_signature = r.signature
FROM receipts r WHERE r.seq = t.seq;
DROP TABLE receipts;

CREATE FUNCTION cpay_receipt_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.receipt_signature IS NOT NULL THEN
        RAISE EXCEPTION 'receipts are immutable';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER transactions_receipt_immutable
    BEFORE UPDATE OF receipt_key_id, receipt_signature ON transactions
    FOR EACH ROW EXECUTE FUNCTION cpay_receipt_immutable();
CREATE TRIGGER transactions_immutable_rows BEFORE DELETE ON transactions
    FOR EACH ROW EXECUTE FUNCTION cpay_immutable();
