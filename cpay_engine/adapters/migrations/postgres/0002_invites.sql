-- One-time enrollment invites (only the SHA-256 of the code is stored).
CREATE TABLE invites (
    code_hash     TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('user', 'admin', 'auditor')),
    created_by    TEXT NOT NULL REFERENCES users (id),
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    used_at_ms    BIGINT,
    used_by       TEXT REFERENCES users (id)
);
