"""GitHub and Copilot tokens encrypted at rest: the keys, where they come from, and what uses them.

keyring.py     sealing (AES-256-GCM) and the keyed lookup hash (HMAC-SHA-256), under one or more keys
key_file.py    the generated key file (0600, owner checked; never to be deleted)
source.py      PROXYD_ENCRYPTION_KEY or the key file, followed while a rotation changes it
startup.py     the keys checked against the stored tokens when a process starts
migration.py   migration 0006's data steps (encrypt; its rollback decrypts) and the clean-up after
rotation.py    ``proxyd keys rotate-encryption``
"""
