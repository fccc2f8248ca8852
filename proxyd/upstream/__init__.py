"""Everything that speaks to GitHub and Copilot, behind ``client.CopilotClient``.

github.py    GitHub's token exchange, quota and device-flow calls
tokens.py    each account's Copilot token, cached and persisted
quota.py     each account's Copilot quotas, cached
identity.py  who proxyd says it is to Copilot, and the headers of a call
catalog.py   which endpoints each model answers on, per account (``/models``)
routing.py   the endpoint a request goes to
affinity.py  which account a conversation stays on
portable.py  what a conversation loses when it moves to another account
pool.py      which account of a pool serves next, and which cool down
client.py    the call: account, token, endpoint, retries, failover
wire.py      what Copilot's answers carry back: headers, usage
"""
