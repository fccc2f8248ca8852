"""What limits remember, behind one small async interface.

    base.py    ``SharedState``: sliding windows, counters, deadlines, a key-value map with expiry
    memory.py  the one implementation today: this process's memory

Client keys' requests per minute and per month, accounts' cool-downs,
conversations' accounts and the failed-credential throttle all keep their
state here, so an implementation other instances share (Redis) is one new
module, not a change to each of them.
"""
