"""The fixed bounds and pauses proxyd runs by, each named once with the reason for its value.

What an operator may want to change is configuration (``proxyd/config.py``).
Here are the numbers that follow from how GitHub, Copilot, the databases and
shutdown behave: timeouts, pauses, refresh and retry intervals, and how much
proxyd holds or reads (caches, buffers, error bodies), kept together so none
hides in the code that uses it.

Not every fixed number lives here. One that is part of a single mechanism's
contract or arithmetic stays beside that mechanism, named and explained there;
for example the lengths the admin API accepts (``admin/client_keys.py``,
``admin/routes_accounts.py``), the device flow's RFC 8628 defaults
(``admin/device_flow.py``), the SSE line cap (``sse.py``, in the README's
Limits), the connection cap's arithmetic (``runtime/connections.py``), the
accounts' cool-downs (``upstream/pool.py``), the legacy store's sizes
(``legacy/``), what the translations assume of each API (``translate/``) and
how much of a secret is shown (``keys/masking.py``).
"""

from __future__ import annotations

# --- GitHub ------------------------------------------------------------------------------------
# Token exchanges, device-flow polls and quota look-ups are small JSON answers; half a minute is plenty.
GITHUB_CALL_TIMEOUT = 30.0
# Without GitHub's refresh_in hint a Copilot token is exchanged again this long before it expires ...
TOKEN_REFRESH_AHEAD_MS = 300_000
# ... and never later than this before, whatever the hint says: requests in flight need it to stay valid.
TOKEN_MIN_LIFETIME_LEFT_MS = 60_000
# An account's plan and quotas (GET {prefix}/api-keys/{id}/quota) are asked of GitHub at most once a minute.
QUOTA_TTL = 60.0

# --- Key cache ---------------------------------------------------------------------------------
# Unknown keys are cached too (a client retrying a bad key costs one query per TTL), at most this many.
UNKNOWN_KEYS_CACHED = 10_000
# After a failed background refresh, a cached key is served this long before the next try.
KEY_REFRESH_BACKOFF = 1.0

# --- Encryption at rest -----------------------------------------------------------------------
# A process looks at the key file at most this often while it uses the keys, so a rotation's new key reaches
# every process on the machine within this time (a row sealed under a key it lacks makes it look at once).
KEY_FILE_CHECK_INTERVAL = 1.0
# `proxyd keys rotate-encryption` waits this long after changing the key file, before re-encrypting and again
# before retiring the old key: well past the check interval, so every running process holds the new keys first.
ROTATION_GRACE = 3.0
# Rows re-encrypted per transaction by a rotation: short transactions, so no request waits long for a row lock.
ROTATION_BATCH_ROWS = 200

# --- Admin credentials -------------------------------------------------------------------------
# Failed tokens or logins per address within the window, before that address gets 429.
FAILED_CREDENTIALS_LIMIT = 10
FAILED_CREDENTIALS_WINDOW = 60.0
# How long a login token from POST /admin/login is valid.
LOGIN_TTL_SECONDS = 24 * 3600
# How long an admin console session lasts (its cookie's Max-Age); sign in again after it.
CONSOLE_SESSION_TTL_SECONDS = 12 * 3600

# --- Usage and the request log -----------------------------------------------------------------
# Log rows buffered while the database is away; past this the oldest are dropped (and counted).
USAGE_BUFFER_MAX_ENTRIES = 100_000
# Rows deleted per statement by retention, so no delete holds locks for long.
HOUSEKEEPING_BATCH_ROWS = 5000
# Retention and batch-id clean-up run hourly; after a failure, again in ten minutes.
HOUSEKEEPING_PAUSE = 3600.0
HOUSEKEEPING_RETRY_PAUSE = 600.0
# A flush's batch id is kept a day: far longer than any retry of an unacknowledged commit.
USAGE_BATCH_IDS_KEPT_MS = 86_400_000

# --- Request bodies ----------------------------------------------------------------------------
# How deeply a JSON body may nest. orjson reads up to 1,024 levels but writes at most
# ORJSON_MAX_DEPTH, and a translated request (Anthropic's Messages to chat, say) nests a level or
# two deeper than the body it came from: half of that leaves room for every later step, and real
# requests (tool schemas included) stay far below it.
MAX_JSON_DEPTH = 128
ORJSON_MAX_DEPTH = 254
# How many values a JSON body may hold (counted before it is parsed: proxyd/http/json_values.py).
# Parsing, translating and writing a body cost per value, each step holding the interpreter lock
# whichever thread runs it; at this many, every step of the worst body stays within tens of
# milliseconds (bench phase heavy), while the longest conversations Claude Code sends hold far fewer.
MAX_JSON_VALUES = 500_000

# --- Operations --------------------------------------------------------------------------------
# /readyz answers within this, whatever the database does (load balancers probe every few seconds).
READINESS_TIMEOUT = 1.5
# At shutdown, the least time the final usage flush, the token/key drain and the pool close get,
# even when PROXYD_SHUTDOWN_TIMEOUT is already spent by streams.
FINAL_FLUSH_FLOOR = 2.0
DRAIN_FLOOR = 0.5
DATABASE_CLOSE_FLOOR = 1.0
# MySQL closes idle connections after wait_timeout (8 h by default): recycle well before.
MYSQL_POOL_RECYCLE = 3600
# How long work given up on at shutdown gets to wind down after it is cancelled: a driver waiting
# on a frozen database server would take PROXYD_DB_TIMEOUT, and closing the pool ends it anyway.
CANCEL_GRACE = 0.1

# --- Copilot API -------------------------------------------------------------------------------
# Copilot's error bodies are small; a larger one is cut rather than read whole.
UPSTREAM_ERROR_BODY_MAX = 64 * 1024
# A non-streamed answer up to this size is read whole and sent in one write (status line, headers and body
# together: a third of the system calls of sending it chunk by chunk); a larger one is streamed on as it comes.
WHOLE_ANSWER_MAX_BYTES = 1024 * 1024
# A 500 or 502 before the first byte is sent once more after this pause, as the official client does.
UPSTREAM_RETRY_DELAY = 0.5
# Each account's model list (which endpoints each model answers on) is refreshed in the background
# this long after it was read; a list that could not be read is tried again after the second pause.
MODEL_LIST_REFRESH = 600.0
MODEL_LIST_RETRY = 30.0
# Copilot's 466 (client version too old) is logged at most this often: every request would hit it.
VERSION_REFUSED_LOG_EVERY = 60.0

# --- Shared state (proxyd/sharedstate) ---------------------------------------------------------
# Keys each namespace of the in-memory state keeps at most, per kind (windows under and at their limit
# apart, maps by least recent use): failed-login addresses, client keys, conversations.
SHARED_STATE_KEYS_KEPT = 100_000

# --- The event loop ----------------------------------------------------------------------------
# Request bodies larger than this are counted, parsed, translated, scanned for their headers and estimated
# (count_tokens) in the worker thread (proxyd/runtime/offloop.py): a 30 MB Messages body takes seconds of Python,
# and the loop serves everyone.
OFF_LOOP_BODY_BYTES = 256 * 1024
