"""What limits remember, behind one small async interface.

    base.py          ``SharedState``: sliding windows, counters, deadlines, a key-value map with expiry
    memory.py        this process's memory (no PROXYD_REDIS_URL)
    redis.py         Redis, shared by every instance and worker: one Lua script per operation
    failopen.py      Redis, falling back to memory while Redis fails (what the app uses with PROXYD_REDIS_URL)
    invalidation.py  key caches cleared on every instance through Redis pub/sub

Client keys' requests per minute and per month, accounts' cool-downs,
conversations' accounts and the failed-credential throttle all keep their
state here, whichever store keeps it.
"""
