-- The Dabloon ledger on PostgreSQL: same model as the SQLite store.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    handle        TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('user', 'admin', 'auditor')),
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE device_keys (
    key_id        TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    public_key    BYTEA NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE INDEX device_keys_user ON device_keys (user_id);

CREATE TABLE engine_keys (
    key_id        TEXT PRIMARY KEY,
    public_key    BYTEA NOT NULL,
    created_at_ms BIGINT NOT NULL
);

-- Users' accounts can never go negative; only flagged system accounts may.
CREATE TABLE accounts (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    user_id         TEXT REFERENCES users (id),
    currency        TEXT NOT NULL,
    may_go_negative BOOLEAN NOT NULL DEFAULT FALSE,
    balance_minor   BIGINT NOT NULL DEFAULT 0,
    CHECK (may_go_negative OR balance_minor >= 0)
);
CREATE UNIQUE INDEX accounts_user_currency ON accounts (user_id, currency) WHERE user_id IS NOT NULL;

CREATE TABLE transactions (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL CHECK (kind IN ('payment', 'mint')),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'completed', 'failed', 'unknown')),
    created_at_ms   BIGINT NOT NULL,
    initiator_id    TEXT NOT NULL REFERENCES users (id),
    from_user_id    TEXT REFERENCES users (id),
    to_user_id      TEXT REFERENCES users (id),
    from_handle     TEXT NOT NULL,
    to_handle       TEXT NOT NULL,
    amount_minor    BIGINT NOT NULL CHECK (amount_minor > 0),
    currency        TEXT NOT NULL,
    memo            TEXT NOT NULL DEFAULT '',
    -- memo.casefold(), written by the engine: case-insensitive search in any script
    memo_folded     TEXT NOT NULL DEFAULT '',
    failure_code    TEXT NOT NULL DEFAULT '',
    failure_message TEXT NOT NULL DEFAULT ''
);

-- Time bounds in history queries become seq bounds through this index (see sql_filters).
CREATE INDEX transactions_created_at ON transactions (created_at_ms);

CREATE TABLE tx_parties (
    user_id   TEXT NOT NULL,
    seq       BIGINT NOT NULL REFERENCES transactions (seq),
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    PRIMARY KEY (user_id, seq)
);

CREATE TABLE postings (
    seq          BIGINT NOT NULL REFERENCES transactions (seq),
    idx          SMALLINT NOT NULL,
    account_id   BIGINT NOT NULL REFERENCES accounts (id),
    amount_minor BIGINT NOT NULL CHECK (amount_minor <> 0),
    currency     TEXT NOT NULL,
    PRIMARY KEY (seq, idx)
);

CREATE TABLE receipts (
    seq       BIGINT PRIMARY KEY REFERENCES transactions (seq),
    key_id    TEXT NOT NULL,
    payload   BYTEA NOT NULL,
    signature BYTEA NOT NULL
);

-- Keyed by expiry first: a replay is the same signed envelope, so it has the same
-- timestamp, hence the same expiry, and collides on this key. New rows append at the end
-- of the index and pruning deletes a prefix; no second index to write at every commit.
CREATE TABLE nonces (
    key_id        TEXT NOT NULL,
    nonce         BYTEA NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    PRIMARY KEY (expires_at_ms, key_id, nonce)
);

CREATE TABLE audit_log (
    seq       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms     BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    details   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

CREATE FUNCTION cpay_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is immutable', TG_TABLE_NAME;
END;
$$;

CREATE TRIGGER postings_immutable BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION cpay_immutable();
CREATE TRIGGER receipts_immutable BEFORE UPDATE OR DELETE ON receipts
    FOR EACH ROW EXECUTE FUNCTION cpay_immutable();
CREATE TRIGGER audit_immutable BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION cpay_immutable();

-- Provider-facing transactions of the original architecture (filled by the provider work).
-- user_id holds the user's UUID; users.id is TEXT here, shared with the SQLite schema.
CREATE TABLE traditional_currency_transactions (
    id                 UUID PRIMARY KEY,
    user_id            UUID NOT NULL,
    transaction_type   TEXT NOT NULL,
    amount             DECIMAL(20, 2) NOT NULL,
    currency           CHAR(3) NOT NULL,
    external_reference TEXT,
    status             TEXT NOT NULL,
    description        TEXT,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX traditional_currency_transactions_user ON traditional_currency_transactions (user_id);
