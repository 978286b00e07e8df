-- The audit entry of a ledger write, appended inside the database, so that recording a
-- payment (transaction row, postings, receipt, parties, audit entry) is one round trip
-- while the ledger lock is held. The caller holds that lock (PostgresDialect.record_entry).
--
-- The hash is cpay_engine.domain.audit.entry_hash: SHA-256 (hex) of the compact JSON
-- array [prev_hash, at_ms, actor, action, details]. For printable ASCII strings, which is
-- all this function accepts, JSON escapes only the backslash and the double quote.
-- Anything else is refused, never hashed differently; the engine then appends in Python.
CREATE FUNCTION cpay_json_string(value TEXT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE STRICT
    RETURN '"' || replace(replace(value, '\', '\\'), '"', '\"') || '"';

CREATE FUNCTION cpay_audit_append(p_at_ms BIGINT, p_actor TEXT, p_action TEXT, p_details TEXT)
RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
    prev TEXT;
    material TEXT;
    digest TEXT;
BEGIN
    IF (p_actor || p_action || p_details) !~ '^[ -~]*$' THEN
        RAISE EXCEPTION 'cpay_audit_append takes printable ASCII only';
    END IF;
    SELECT a.hash INTO prev FROM audit_log a ORDER BY a.seq DESC LIMIT 1;
    prev := coalesce(prev, repeat('0', 64));
    material := '[' || cpay_json_string(prev) || ',' || p_at_ms::text || ','
        || cpay_json_string(p_actor) || ',' || cpay_json_string(p_action) || ','
        || cpay_json_string(p_details) || ']';
    digest := encode(sha256(convert_to(material, 'UTF8')), 'hex');
    INSERT INTO audit_log (at_ms, actor, action, details, prev_hash, hash)
        VALUES (p_at_ms, p_actor, p_action, p_details, prev, digest);
    RETURN digest;
END;
$$;
