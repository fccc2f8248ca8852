"""Administration: who is admin, and what an admin may change, over HTTP and from the command line.

auth.py                who is admin: the bearer token, a login, loopback when allowed
token_file.py          the generated admin token's file (0600, owner checked)
throttle.py            the failed-credential throttle
device_flow.py         GitHub's device flow, shared by its watchers
accounts.py            changes to accounts, with the caches they make stale
validation.py          request-body checks that list every problem
routes.py              the admin sub-application and its guard
routes_accounts.py     ``/api/api-keys``
routes_client_keys.py  ``/api/client-keys``
routes_stats.py        ``/api/admin/stats`` and ``/api/admin/logs``
keys_cli.py            ``proxyd keys``
"""
