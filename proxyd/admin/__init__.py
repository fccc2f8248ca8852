"""Administration: who is admin, and what an admin may change, over HTTP and from the command line.

auth.py                who is admin: the bearer token, a login, a console session, loopback when allowed
sessions.py            the admin console's sessions (database-backed cookie) and where a request comes from
token_file.py          the generated admin token's file (0600, owner checked)
throttle.py            the failed-credential throttle
device_flow.py         GitHub's device flow, shared by its watchers
accounts.py            changes to accounts, with the caches they make stale
client_keys.py         changes to client keys, with their rules: what the routes and ``proxyd keys`` call
validation.py          request-body checks that list every problem
routes.py              the admin routes, each behind the guard, and their start and stop
routes_accounts.py     ``/api/api-keys``
routes_client_keys.py  ``/api/client-keys``
routes_stats.py        ``/api/admin/stats``, ``/api/admin/logs`` and ``/api/admin/usage``
routes_console.py      the admin console at ``/admin``: its page, assets, sign-in and sign-out
keys_cli.py            ``proxyd keys``, on ``client_keys.py``
"""
