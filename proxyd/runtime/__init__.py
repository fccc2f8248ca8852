"""The daemon's life: starting, listening, serving, telling systemd, shutting down.

server.py       ``proxyd serve``: the event loop, signals, workers
listen.py       binding the port once, before anything else
connections.py  the cap on open connections, idle ones closed first
systemd.py      the notify protocol (READY, STOPPING, WATCHDOG)
lifecycle.py    the shutdown deadline and the budget of work at shutdown
readiness.py    ``/readyz``'s bounded database check
"""
