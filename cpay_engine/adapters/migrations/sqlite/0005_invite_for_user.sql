-- An invite may add a device key to an existing user (a new or replacement device:
-- the way back for someone whose only device was lost) instead of creating a user.
ALTER TABLE invites ADD COLUMN for_user_id TEXT REFERENCES users (id);
