"""Numbered schema migrations, for SQLite (`MIGRATIONS`) and PostgreSQL (`POSTGRES_MIGRATIONS`). Append only:
never edit one that has shipped. Both count versions alike, so either engine refuses a schema newer than it knows;
a new migration is added to both.
"""

MIGRATIONS: tuple[str, ...] = (
    # 1: account links, OAuth states, chat settings, pick sessions and their items.
    """
    CREATE TABLE google_links (
        user_id     INTEGER PRIMARY KEY,
        email       TEXT NOT NULL,
        token       BLOB NOT NULL,
        scopes      TEXT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('active', 'broken')),
        linked_at   REAL NOT NULL,
        updated_at  REAL NOT NULL
    );
    CREATE TABLE oauth_states (
        state_hash     TEXT PRIMARY KEY,
        user_id        INTEGER NOT NULL,
        chat_id        INTEGER NOT NULL,
        code_verifier  BLOB NOT NULL,
        expires_at     REAL NOT NULL
    );
    CREATE TABLE chat_settings (
        chat_id        INTEGER PRIMARY KEY,
        delivery_mode  TEXT NOT NULL CHECK (delivery_mode IN ('photos', 'originals'))
    );
    CREATE TABLE pick_sessions (
        id                 INTEGER PRIMARY KEY AUTOINCREMENT,
        google_session_id  TEXT NOT NULL UNIQUE,
        user_id            INTEGER NOT NULL,
        chat_id            INTEGER NOT NULL,
        status             TEXT NOT NULL,
        picker_uri         TEXT NOT NULL,
        delivery_mode      TEXT NOT NULL,
        poll_interval      REAL NOT NULL,
        poll_deadline      REAL NOT NULL,
        expire_time        REAL NOT NULL,
        last_polled_at     REAL,
        prompt_message_id  INTEGER,
        status_message_id  INTEGER,
        failure            TEXT,
        google_deleted     INTEGER NOT NULL DEFAULT 0,
        created_at         REAL NOT NULL,
        updated_at         REAL NOT NULL
    );
    CREATE INDEX pick_sessions_status ON pick_sessions (status);
    CREATE INDEX pick_sessions_owner ON pick_sessions (user_id, chat_id);
    CREATE TABLE pick_items (
        session_id  INTEGER NOT NULL REFERENCES pick_sessions (id) ON DELETE CASCADE,
        position    INTEGER NOT NULL,
        media_id    TEXT NOT NULL,
        kind        TEXT NOT NULL,
        filename    TEXT NOT NULL,
        mime_type   TEXT NOT NULL,
        width       INTEGER,
        height      INTEGER,
        status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'skipped')),
        reason      TEXT,
        size        INTEGER,
        message_id  INTEGER,
        file_id     TEXT,
        PRIMARY KEY (session_id, position)
    );
    """,
    # 2: groups and channels. A pick may be asked for in one chat (chat_id), prompted in the picker's
    # private chat, delivered to another (a group, or a forwarding destination) and reported in a
    # fourth; deep-link intents; forwarding destinations; "pick for this group once linked".
    """
    ALTER TABLE pick_sessions ADD COLUMN prompt_chat_id INTEGER;
    ALTER TABLE pick_sessions ADD COLUMN target_chat_id INTEGER;
    ALTER TABLE pick_sessions ADD COLUMN report_chat_id INTEGER;
    ALTER TABLE pick_sessions ADD COLUMN notice_message_id INTEGER;
    ALTER TABLE pick_sessions ADD COLUMN shared_by TEXT;
    UPDATE pick_sessions SET prompt_chat_id = chat_id, target_chat_id = chat_id, report_chat_id = chat_id;
    CREATE INDEX pick_sessions_target ON pick_sessions (target_chat_id);
    CREATE TABLE chat_intents (
        token_hash  TEXT PRIMARY KEY,
        user_id     INTEGER NOT NULL,
        chat_id     INTEGER NOT NULL,
        expires_at  REAL NOT NULL
    );
    CREATE TABLE destinations (
        user_id     INTEGER PRIMARY KEY,
        chat_id     INTEGER NOT NULL,
        title       TEXT NOT NULL,
        is_channel  INTEGER NOT NULL
    );
    CREATE INDEX destinations_chat ON destinations (chat_id);
    ALTER TABLE oauth_states ADD COLUMN then_pick_chat_id INTEGER;
    """,
    # 3: an item whose upload was handed to Telegram but not yet confirmed: after a crash it may or
    # may not have arrived, so it is reported rather than sent twice.
    """
    ALTER TABLE pick_items ADD COLUMN sending_since REAL;
    """,
    # 4: when Telegram confirmed each item, so /stats counts the deliveries of a day exactly. Items sent
    # before this have no such time: their pick's last update stands in (what /stats counted until now).
    """
    ALTER TABLE pick_items ADD COLUMN sent_at REAL;
    UPDATE pick_items SET sent_at = (SELECT updated_at FROM pick_sessions WHERE pick_sessions.id = session_id)
     WHERE status = 'sent';
    CREATE INDEX pick_items_sent_at ON pick_items (sent_at) WHERE sent_at IS NOT NULL;
    """,
    # 5: why an item was skipped, and why a pick ended early, as codes (bot/outcomes.py SkipReason) instead of
    # English sentences; a reason's parameter (the upload limit in bytes, Telegram's error) goes to reason_detail.
    # The sentences are those every earlier version wrote: "over 50 MB" / "over 2.0 GB" and
    # "Telegram refused it (<error>)" carry a detail, the others map one to one.
    """
    ALTER TABLE pick_items ADD COLUMN reason_detail TEXT;
    UPDATE pick_items
       SET reason = 'too_big',
           reason_detail = CAST(CAST(round(CAST(substr(reason, 6, length(reason) - 8) AS REAL)
                                           * CASE substr(reason, -2) WHEN 'GB' THEN 1e9 WHEN 'MB' THEN 1e6 ELSE 1e3 END)
                                     AS INTEGER) AS TEXT)
     WHERE reason GLOB 'over * [kMG]B';
    UPDATE pick_items
       SET reason = 'telegram_refused', reason_detail = substr(reason, 22, length(reason) - 22)
     WHERE reason GLOB 'Telegram refused it (*)';
    UPDATE pick_items
       SET reason = CASE reason
           WHEN 'still processing at Google' THEN 'still_processing'
           WHEN 'Google could not provide it' THEN 'unavailable'
           WHEN 'Google was not answering' THEN 'google_down'
           WHEN 'the Google session expired first' THEN 'session_expired'
           WHEN 'interrupted by a restart mid-upload (it may have arrived above)' THEN 'in_doubt'
           WHEN 'Telegram did not confirm it in time (it may have arrived above)' THEN 'unconfirmed'
           WHEN 'Google access was revoked' THEN 'link_broken'
           WHEN 'this chat can no longer receive messages' THEN 'chat_gone'
           -- No version wrote any other reason; should one turn up, "Google could not provide it" is the
           -- nearest claim that stays true, and the bot can only read codes it knows.
           ELSE 'unavailable' END
     WHERE reason NOT IN ('too_big', 'telegram_refused');
    UPDATE pick_sessions SET failure = 'too_many_items' WHERE failure = 'too many items';
    """,
    # 6: /metrics reads the items' outcomes from counts kept by triggers instead of scanning pick_items on every
    # scrape. They only grow, like the counters they feed: deleting old items (retention) leaves them as they are.
    """
    CREATE TABLE item_outcome_counts (
        status  TEXT NOT NULL,
        reason  TEXT NOT NULL,  -- '' when none
        items   INTEGER NOT NULL,
        PRIMARY KEY (status, reason)
    );
    INSERT INTO item_outcome_counts (status, reason, items)
    SELECT status, COALESCE(reason, ''), count(*) FROM pick_items
     WHERE status IN ('sent', 'skipped') GROUP BY status, COALESCE(reason, '');
    CREATE TRIGGER pick_items_outcome_inserted AFTER INSERT ON pick_items
    WHEN NEW.status IN ('sent', 'skipped')
    BEGIN
        INSERT INTO item_outcome_counts (status, reason, items) VALUES (NEW.status, COALESCE(NEW.reason, ''), 1)
        ON CONFLICT (status, reason) DO UPDATE SET items = items + 1;
    END;
    CREATE TRIGGER pick_items_outcome_changed AFTER UPDATE OF status ON pick_items
    WHEN NEW.status IN ('sent', 'skipped') AND OLD.status = 'pending'
    BEGIN
        INSERT INTO item_outcome_counts (status, reason, items) VALUES (NEW.status, COALESCE(NEW.reason, ''), 1)
        ON CONFLICT (status, reason) DO UPDATE SET items = items + 1;
    END;
    """,
    # 7: a sign-in first opens the bot's own page saying whose Telegram account it links (a forwarded sign-in
    # button must not link someone else's Google account): a row starts with the page id's digest and the
    # user's name, and gets its OAuth state's digest only on Continue. Pending sign-ins (10 minutes) are dropped.
    """
    DROP TABLE oauth_states;
    CREATE TABLE oauth_states (
        start_hash         TEXT UNIQUE,
        state_hash         TEXT UNIQUE,
        user_id            INTEGER NOT NULL,
        chat_id            INTEGER NOT NULL,
        user_label         BLOB NOT NULL,
        code_verifier      BLOB NOT NULL,
        expires_at         REAL NOT NULL,
        then_pick_chat_id  INTEGER
    );
    """,
    # 8: leases, for several replicas sharing one PostgreSQL database (SQLite has one process, which holds them
    # all): who calls getUpdates (work 'updates', id 0), and who polls and delivers each active pick (work
    # 'session', id its pick_sessions id), until when unless renewed.
    """
    CREATE TABLE leases (
        work        TEXT NOT NULL,
        id          INTEGER NOT NULL,
        holder      TEXT NOT NULL,
        expires_at  REAL NOT NULL,
        PRIMARY KEY (work, id)
    );
    CREATE INDEX leases_holder ON leases (holder);
    """,
    # 9: group sharing: forum topics. Where a group pick's messages go inside the group (NULL: not a forum, or its
    # General topic), the topic a deep link or a topic destination is for, and its name for the confirmation.
    # Archives: a chat may take its picks as ZIP archives, a third delivery mode (SQLite cannot change a CHECK
    # constraint, so chat_settings is copied into a table with the wider one).
    # No repeats in a chat: the chat's memory of what it was sent, as digests (DEDUP_DAYS).
    # Pick again and the reminder: the pick's item limit, and whether its prompt said the link runs out soon.
    # Captions from metadata: a chat's choice (none, date, date and camera), kept with each pick like its delivery
    # mode, and each item's capture time and camera until the pick's rows are purged (RETENTION_DAYS).
    """
    ALTER TABLE pick_sessions ADD COLUMN thread_id INTEGER;
    ALTER TABLE chat_intents ADD COLUMN thread_id INTEGER;
    ALTER TABLE chat_intents ADD COLUMN topic TEXT;
    ALTER TABLE destinations ADD COLUMN thread_id INTEGER;
    -- pick again and the reminder
    ALTER TABLE pick_sessions ADD COLUMN max_items INTEGER;
    ALTER TABLE pick_sessions ADD COLUMN reminded INTEGER NOT NULL DEFAULT 0;
    -- archives
    CREATE TABLE chat_settings_archives (
        chat_id        INTEGER PRIMARY KEY,
        delivery_mode  TEXT NOT NULL CHECK (delivery_mode IN ('photos', 'originals', 'archive'))
    );
    INSERT INTO chat_settings_archives (chat_id, delivery_mode) SELECT chat_id, delivery_mode FROM chat_settings;
    DROP TABLE chat_settings;
    ALTER TABLE chat_settings_archives RENAME TO chat_settings;
    -- a long pick's offer to come as archives instead: asked once (its message), open until `until`, then how it
    -- ended ('archives' or 'albums' answered by the picker, 'silence' when time ran out)
    CREATE TABLE archive_offers (
        session_id  INTEGER PRIMARY KEY,
        message_id  INTEGER,
        until       REAL NOT NULL,
        answer      TEXT CHECK (answer IN ('archives', 'albums', 'silence'))
    );
    -- end archives
    -- captions (after archives rebuilt chat_settings)
    ALTER TABLE chat_settings ADD COLUMN captions TEXT NOT NULL DEFAULT 'none';
    ALTER TABLE pick_sessions ADD COLUMN captions TEXT NOT NULL DEFAULT 'none';
    ALTER TABLE pick_items ADD COLUMN taken_at REAL;
    ALTER TABLE pick_items ADD COLUMN camera TEXT;
    -- no repeats: what each chat was sent (for DEDUP_DAYS), as digests only: media_key is the SHA-256 of
    -- "user_id:media_id", content_hash that of the bytes sent; file_id and kind send it again ("Send them anyway").
    CREATE TABLE chat_memory (
        chat_id       INTEGER NOT NULL,
        media_key     TEXT NOT NULL,
        content_hash  TEXT NOT NULL,
        file_id       TEXT NOT NULL,
        kind          TEXT NOT NULL,
        seen_at       REAL NOT NULL,
        PRIMARY KEY (chat_id, media_key)
    );
    CREATE INDEX chat_memory_content ON chat_memory (content_hash);
    CREATE INDEX chat_memory_seen ON chat_memory (seen_at);
    -- an item skipped as a repeat: the content_hash of the chat's copy; until when "Send them anyway" works
    ALTER TABLE pick_items ADD COLUMN seen_hash TEXT;
    ALTER TABLE pick_sessions ADD COLUMN repeats_until REAL;
    -- end no repeats
    """,
    # 10: languages. A person's /language choice and the language_code of their last update (for messages sent
    # without an update at hand); a group's language, set by an admin in /settings or by whoever added the bot.
    """
    CREATE TABLE user_languages (
        user_id   INTEGER PRIMARY KEY,
        chosen    TEXT,
        telegram  TEXT
    );
    CREATE TABLE chat_languages (
        chat_id   INTEGER PRIMARY KEY,
        language  TEXT NOT NULL
    );
    """,
    # 11: PostgreSQL's outcome counts kept per statement (see there). SQLite's triggers update the count in place
    # at the same cost whatever the statement's size: nothing changes here.
    """
    -- nothing for SQLite
    """,
)

# PostgreSQL came with version 7: its first script makes the schema SQLite has after migration 7 in one go. Types:
# Telegram ids and counts are bigint (ids exceed 32 bits), times double precision (Unix seconds, as SQLite's REAL),
# ciphertexts bytea; flags stay integers (0/1) so the repositories' SQL is the same for both.
POSTGRES_MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        7,
        """
    CREATE TABLE google_links (
        user_id     bigint PRIMARY KEY,
        email       text NOT NULL,
        token       bytea NOT NULL,
        scopes      text NOT NULL,
        status      text NOT NULL CHECK (status IN ('active', 'broken')),
        linked_at   double precision NOT NULL,
        updated_at  double precision NOT NULL
    );
    CREATE TABLE oauth_states (
        start_hash         text UNIQUE,
        state_hash         text UNIQUE,
        user_id            bigint NOT NULL,
        chat_id            bigint NOT NULL,
        user_label         bytea NOT NULL,
        code_verifier      bytea NOT NULL,
        expires_at         double precision NOT NULL,
        then_pick_chat_id  bigint
    );
    CREATE TABLE chat_settings (
        chat_id        bigint PRIMARY KEY,
        delivery_mode  text NOT NULL CHECK (delivery_mode IN ('photos', 'originals'))
    );
    CREATE TABLE pick_sessions (
        id                 bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        google_session_id  text NOT NULL UNIQUE,
        user_id            bigint NOT NULL,
        chat_id            bigint NOT NULL,
        status             text NOT NULL,
        picker_uri         text NOT NULL,
        delivery_mode      text NOT NULL,
        poll_interval      double precision NOT NULL,
        poll_deadline      double precision NOT NULL,
        expire_time        double precision NOT NULL,
        last_polled_at     double precision,
        prompt_message_id  bigint,
        status_message_id  bigint,
        failure            text,
        google_deleted     integer NOT NULL DEFAULT 0,
        created_at         double precision NOT NULL,
        updated_at         double precision NOT NULL,
        prompt_chat_id     bigint,
        target_chat_id     bigint,
        report_chat_id     bigint,
        notice_message_id  bigint,
        shared_by          text
    );
    CREATE INDEX pick_sessions_status ON pick_sessions (status);
    CREATE INDEX pick_sessions_owner ON pick_sessions (user_id, chat_id);
    CREATE INDEX pick_sessions_target ON pick_sessions (target_chat_id);
    CREATE TABLE pick_items (
        session_id     bigint NOT NULL REFERENCES pick_sessions (id) ON DELETE CASCADE,
        position       bigint NOT NULL,
        media_id       text NOT NULL,
        kind           text NOT NULL,
        filename       text NOT NULL,
        mime_type      text NOT NULL,
        width          bigint,
        height         bigint,
        status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'skipped')),
        reason         text,
        size           bigint,
        message_id     bigint,
        file_id        text,
        sending_since  double precision,
        sent_at        double precision,
        reason_detail  text,
        PRIMARY KEY (session_id, position)
    );
    CREATE INDEX pick_items_sent_at ON pick_items (sent_at) WHERE sent_at IS NOT NULL;
    CREATE TABLE chat_intents (
        token_hash  text PRIMARY KEY,
        user_id     bigint NOT NULL,
        chat_id     bigint NOT NULL,
        expires_at  double precision NOT NULL
    );
    CREATE TABLE destinations (
        user_id     bigint PRIMARY KEY,
        chat_id     bigint NOT NULL,
        title       text NOT NULL,
        is_channel  integer NOT NULL
    );
    CREATE INDEX destinations_chat ON destinations (chat_id);
    CREATE TABLE item_outcome_counts (
        status  text NOT NULL,
        reason  text NOT NULL,  -- '' when none
        items   bigint NOT NULL,
        PRIMARY KEY (status, reason)
    );
    -- The counts SQLite's triggers of migration 6 keep, kept the same way.
    CREATE FUNCTION count_item_outcome() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO item_outcome_counts (status, reason, items) VALUES (NEW.status, COALESCE(NEW.reason, ''), 1)
        ON CONFLICT (status, reason) DO UPDATE SET items = item_outcome_counts.items + 1;
        RETURN NULL;
    END $$;
    CREATE TRIGGER pick_items_outcome_inserted AFTER INSERT ON pick_items
    FOR EACH ROW WHEN (NEW.status IN ('sent', 'skipped')) EXECUTE FUNCTION count_item_outcome();
    CREATE TRIGGER pick_items_outcome_changed AFTER UPDATE OF status ON pick_items
    FOR EACH ROW WHEN (NEW.status IN ('sent', 'skipped') AND OLD.status = 'pending')
    EXECUTE FUNCTION count_item_outcome();
    """,
    ),
    (
        8,
        """
    CREATE TABLE leases (
        work        text NOT NULL,
        id          bigint NOT NULL,
        holder      text NOT NULL,
        expires_at  double precision NOT NULL,
        PRIMARY KEY (work, id)
    );
    CREATE INDEX leases_holder ON leases (holder);
    """,
    ),
    (
        9,
        """
    ALTER TABLE pick_sessions ADD COLUMN thread_id bigint;
    ALTER TABLE chat_intents ADD COLUMN thread_id bigint;
    ALTER TABLE chat_intents ADD COLUMN topic text;
    ALTER TABLE destinations ADD COLUMN thread_id bigint;
    -- pick again and the reminder
    ALTER TABLE pick_sessions ADD COLUMN max_items bigint;
    ALTER TABLE pick_sessions ADD COLUMN reminded integer NOT NULL DEFAULT 0;
    -- archives: a third delivery mode
    ALTER TABLE chat_settings DROP CONSTRAINT chat_settings_delivery_mode_check;
    ALTER TABLE chat_settings ADD CONSTRAINT chat_settings_delivery_mode_check
        CHECK (delivery_mode IN ('photos', 'originals', 'archive'));
    CREATE TABLE archive_offers (
        session_id  bigint PRIMARY KEY,
        message_id  bigint,
        until       double precision NOT NULL,
        answer      text CHECK (answer IN ('archives', 'albums', 'silence'))
    );
    -- end archives
    -- captions (after archives rebuilt chat_settings)
    ALTER TABLE chat_settings ADD COLUMN captions text NOT NULL DEFAULT 'none';
    ALTER TABLE pick_sessions ADD COLUMN captions text NOT NULL DEFAULT 'none';
    ALTER TABLE pick_items ADD COLUMN taken_at double precision;
    ALTER TABLE pick_items ADD COLUMN camera text;
    -- no repeats (see SQLite's migration 9)
    CREATE TABLE chat_memory (
        chat_id       bigint NOT NULL,
        media_key     text NOT NULL,
        content_hash  text NOT NULL,
        file_id       text NOT NULL,
        kind          text NOT NULL,
        seen_at       double precision NOT NULL,
        PRIMARY KEY (chat_id, media_key)
    );
    CREATE INDEX chat_memory_content ON chat_memory (content_hash);
    CREATE INDEX chat_memory_seen ON chat_memory (seen_at);
    ALTER TABLE pick_items ADD COLUMN seen_hash text;
    ALTER TABLE pick_sessions ADD COLUMN repeats_until double precision;
    -- end no repeats
    """,
    ),
    (
        10,
        """
    CREATE TABLE user_languages (
        user_id   bigint PRIMARY KEY,
        chosen    text,
        telegram  text
    );
    CREATE TABLE chat_languages (
        chat_id   bigint PRIMARY KEY,
        language  text NOT NULL
    );
    """,
    ),
    (
        11,
        # The outcome counts by statement, not by row. Upserting the one counter row once per item leaves a new
        # version of it per item, and each upsert walks the versions this transaction made: a statement of n items
        # cost n² (20,000 delivered items copied by migrate-db: 18 s; a million: hours).
        """
    DROP TRIGGER pick_items_outcome_inserted ON pick_items;
    DROP TRIGGER pick_items_outcome_changed ON pick_items;
    DROP FUNCTION count_item_outcome();
    CREATE FUNCTION count_items_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO item_outcome_counts (status, reason, items)
        SELECT status, COALESCE(reason, ''), count(*) FROM inserted
        WHERE status IN ('sent', 'skipped') GROUP BY 1, 2
        ON CONFLICT (status, reason) DO UPDATE SET items = item_outcome_counts.items + EXCLUDED.items;
        RETURN NULL;
    END $$;
    CREATE FUNCTION count_items_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO item_outcome_counts (status, reason, items)
        SELECT changed.status, COALESCE(changed.reason, ''), count(*)
        FROM changed JOIN previous USING (session_id, position)
        WHERE changed.status IN ('sent', 'skipped') AND previous.status = 'pending' GROUP BY 1, 2
        ON CONFLICT (status, reason) DO UPDATE SET items = item_outcome_counts.items + EXCLUDED.items;
        RETURN NULL;
    END $$;
    CREATE TRIGGER pick_items_outcome_inserted AFTER INSERT ON pick_items
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION count_items_inserted();
    CREATE TRIGGER pick_items_outcome_changed AFTER UPDATE ON pick_items
    REFERENCING OLD TABLE AS previous NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION count_items_changed();
    """,
    ),
)
