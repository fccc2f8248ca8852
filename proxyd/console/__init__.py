"""The admin console's page, styles and script (``static/``), served by ``proxyd/admin/routes_console.py``.

Written by hand: no build step, nothing fetched from elsewhere when it runs.
"""
