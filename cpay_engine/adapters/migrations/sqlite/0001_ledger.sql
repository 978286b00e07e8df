-- The Dabloon ledger: users, device keys, accounts, transactions, postings,
-- receipts, request nonces and the hash-chained audit log.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    handle        TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('user', 'admin', 'auditor')),
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE device_keys (
    key_id        TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    public_key    BLOB NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);
CREATE INDEX device_keys_user ON device_keys (user_id);

CREATE TABLE engine_keys (
    key_id        TEXT PRIMARY KEY,
    public_key    BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL
);

-- Users' accounts can never go negative; only flagged system accounts may.
CREATE TABLE accounts (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    user_id         TEXT REFERENCES users (id),
    currency        TEXT NOT NULL,
    may_go_negative INTEGER NOT NULL DEFAULT 0,
    balance_minor   INTEGER NOT NULL DEFAULT 0,
    CHECK (may_go_negative = 1 OR balance_minor >= 0)
);
CREATE UNIQUE INDEX accounts_user_currency ON accounts (user_id, currency) WHERE user_id IS NOT NULL;

CREATE TABLE transactions (
    -- rowid alias, not AUTOINCREMENT: rows are never deleted, so seqs are never reused,
    -- and a commit does not also rewrite sqlite_sequence
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL CHECK (kind IN ('payment', 'mint')),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'completed', 'failed', 'unknown')),
    created_at_ms   INTEGER NOT NULL,
    initiator_id    TEXT NOT NULL REFERENCES users (id),
    from_user_id    TEXT REFERENCES users (id),
    to_user_id      TEXT REFERENCES users (id),
    from_handle     TEXT NOT NULL,
    to_handle       TEXT NOT NULL,
    amount_minor    INTEGER NOT NULL CHECK (amount_minor > 0),
    currency        TEXT NOT NULL,
    memo            TEXT NOT NULL DEFAULT '',
    -- memo.casefold(), written by the engine: case-insensitive search in any script
    memo_folded     TEXT NOT NULL DEFAULT '',
    failure_code    TEXT NOT NULL DEFAULT '',
    failure_message TEXT NOT NULL DEFAULT ''
);

-- One row per user who sees a transaction in their history (keyset paging by seq).
-- Time bounds in history queries become seq bounds through this index (see sql_filters).
CREATE INDEX transactions_created_at ON transactions (created_at_ms);

CREATE TABLE tx_parties (
    user_id   TEXT NOT NULL,
    seq       INTEGER NOT NULL REFERENCES transactions (seq),
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    PRIMARY KEY (user_id, seq)
) WITHOUT ROWID;

-- Clustered by transaction: a payment's postings land on one page (no extra indexes to
-- write at every commit); `idx` keeps their order.
CREATE TABLE postings (
    seq          INTEGER NOT NULL REFERENCES transactions (seq),
    idx          INTEGER NOT NULL,
    account_id   INTEGER NOT NULL REFERENCES accounts (id),
    amount_minor INTEGER NOT NULL CHECK (amount_minor <> 0),
    currency     TEXT NOT NULL,
    PRIMARY KEY (seq, idx)
) WITHOUT ROWID;

CREATE TABLE receipts (
    seq       INTEGER PRIMARY KEY REFERENCES transactions (seq),
    key_id    TEXT NOT NULL,
    payload   BLOB NOT NULL,
    signature BLOB NOT NULL
);

-- Keyed by expiry first: a replay is the same signed envelope, so it has the same
-- timestamp, hence the same expiry, and collides on this key. New rows append at the end
-- of the index and pruning deletes a prefix; no second index to write at every commit.
CREATE TABLE nonces (
    key_id        TEXT NOT NULL,
    nonce         BLOB NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    PRIMARY KEY (expires_at_ms, key_id, nonce)
) WITHOUT ROWID;

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at_ms     INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    details   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

-- History is immutable: corrections are new, linked transactions.
CREATE TRIGGER postings_no_update BEFORE UPDATE ON postings
BEGIN SELECT RAISE(ABORT, 'postings are immutable'); END;
CREATE TRIGGER postings_no_delete BEFORE DELETE ON postings
BEGIN SELECT RAISE(ABORT, 'postings are immutable'); END;
CREATE TRIGGER receipts_no_update BEFORE UPDATE ON receipts
BEGIN SELECT RAISE(ABORT, 'receipts are immutable'); END;
CREATE TRIGGER receipts_no_delete BEFORE DELETE ON receipts
BEGIN SELECT RAISE(ABORT, 'receipts are immutable'); END;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
