"""``GET {prefix}/admin/stats`` and ``GET {prefix}/admin/logs``: the legacy dashboard's fields, from the database.

Request numbers come from ``request_log`` (one row per proxied request, failed
ones included). "Today", "this week" (from Monday) and "this month" start at
midnight UTC; a key is active if it was used in the last 30 days;
``errorRate`` is the percentage of logged requests answered with status >= 400;
``averageResponseTime`` is in whole milliseconds. ``accountQuotas`` lists each
account's premium-request quota as last fetched by ``/api-keys/{id}/quota``
(never fetched here: the stats cost no GitHub call).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from proxyd.admin.validation import int_param
from proxyd.appkeys import DATABASE, QUOTAS
from proxyd.clock import epoch_ms, iso_ms
from proxyd.db import optional_int
from proxyd.errors import BadRequest
from proxyd.http.json_io import json_response
from proxyd.keys.store import storable

ACTIVE_DAYS = 30
TOP_MODELS = 10
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_PAGE = 1_000_000  # keeps the offset a sane 64-bit number


def period_starts(now: datetime) -> dict[str, int]:
    """Epoch-ms boundaries of the periods the stats count, in UTC."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return {
        "day_start": epoch_ms(day),
        "week_start": epoch_ms(day - timedelta(days=day.weekday())),
        "month_start": epoch_ms(day.replace(day=1)),
    }


async def stats(request: web.Request) -> web.Response:
    """``?clientKeyId=`` counts the requests of that client key only (``totalKeys`` stays every API key)."""
    database = request.config_dict[DATABASE]
    queries = database.queries
    client_key_id = request.query.get("clientKeyId") or None
    if client_key_id is not None and not storable(client_key_id):
        raise BadRequest(["clientKeyId must not contain NUL"])
    now = datetime.now(UTC)
    active_since = epoch_ms(now - timedelta(days=ACTIVE_DAYS))
    keys = await database.fetch_one(queries["stats_keys"], {"active_since": active_since})
    requests = await database.fetch_one(
        queries["stats_requests"], {**period_starts(now), "client_key_id": client_key_id}
    )
    top = await database.fetch_all(queries["stats_top_models"], {"limit": TOP_MODELS, "client_key_id": client_key_id})
    assert keys is not None and requests is not None  # aggregates always return one row
    # int()/float(): PostgreSQL and MySQL return sums and averages as Decimal.
    total = int(requests["total"])
    average = requests["average_duration"]
    return json_response(
        {
            "totalKeys": int(keys["total_keys"]),
            "activeKeys": int(keys["active_keys"]),
            "totalRequests": total,
            "requestsToday": int(requests["today"]),
            "requestsThisWeek": int(requests["this_week"]),
            "requestsThisMonth": int(requests["this_month"]),
            "averageResponseTime": round(float(average)) if average is not None else 0,
            "errorRate": round(100 * int(requests["errors"]) / total, 2) if total else 0,
            "topModels": [{"model": row["model"], "count": int(row["requests"])} for row in top],
            "accountQuotas": _account_quotas(request),
        }
    )


def _account_quotas(request: web.Request) -> list[dict[str, Any]]:
    quotas = []
    for account_id, view in request.config_dict[QUOTAS].known_accounts().items():
        premium = view["quota_snapshots"].get("premium_interactions") or {}
        quotas.append(
            {
                "apiKeyId": account_id,
                "copilotPlan": view["copilot_plan"],
                "premiumRemaining": premium.get("remaining"),
                "premiumEntitlement": premium.get("entitlement"),
                "premiumPercentRemaining": premium.get("percent_remaining"),
                "premiumUnlimited": premium.get("unlimited"),
                "fetchedAt": iso_ms(view["fetched_at"]),
            }
        )
    return quotas


async def logs(request: web.Request) -> web.Response:
    page, page_errors = int_param(request.query, "page", default=1, minimum=1, maximum=MAX_PAGE)
    limit, limit_errors = int_param(request.query, "limit", default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    if page_errors or limit_errors:
        raise BadRequest(page_errors + limit_errors)
    database = request.config_dict[DATABASE]
    counted = await database.fetch_one(database.queries["count_request_log"])
    rows = await database.fetch_all(
        database.queries["page_request_log"], {"limit": limit, "offset": (page - 1) * limit}
    )
    return json_response(
        {
            "logs": [_log_entry(row) for row in rows],
            "total": int(counted["total"]) if counted is not None else 0,
            "page": page,
            "limit": limit,
        }
    )


def _log_entry(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "timestamp": iso_ms(int(row["time"])),
        "apiKeyId": row["api_key_id"],
        "apiKeyName": row["api_key_name"],
        "maskedKey": row["api_key_masked_key"],  # stored masked at write time: the log never opens a token
        "clientKeyId": row["client_key_id"],
        "clientKeyName": row["client_key_name"],
        "endpoint": row["endpoint"],
        "model": row["model"],
        "status": int(row["status"]),
        "duration": int(row["duration_ms"]),
        "promptTokens": optional_int(row["prompt_tokens"]),
        "completionTokens": optional_int(row["completion_tokens"]),
        "totalTokens": optional_int(row["total_tokens"]),
    }
