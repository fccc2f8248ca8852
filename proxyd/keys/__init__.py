"""The keys and the accounts they stand for: stored, cached, resolved.

records.py              the legacy wire shapes: ``ApiKey`` (an account) and ``CopilotMeta``; ``KeyRecord``, the
                        base of an account and a client key
store.py                the accounts' table, and their usage counters
usage.py                usage increments, added up per key the one way both stores and the usage flush share
sealed.py               an account as its row holds it: tokens sealed, lookup hash and masked key beside them
client_keys.py          client keys (``pxd_…``): stored as SHA-256 only, with their limits
lookup_cache.py         the stale-while-revalidate cache both resolvers are built on
account_resolver.py     a presented GitHub token (or none) → its account
client_key_resolver.py  a presented client key → the key and its pool of accounts
masking.py              how a secret is shown: its first and last characters
"""
