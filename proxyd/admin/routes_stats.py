"""``GET {prefix}/admin/stats`` and ``GET {prefix}/admin/logs``: the legacy dashboard's fields, from the database.

Request numbers come from ``request_log`` (one row per proxied request, failed
ones included). "Today", "this week" (from Monday) and "this month" start at
midnight UTC; a key is active if it was used in the last 30 days;
``errorRate`` is the percentage of logged requests answered with status >= 400;
``averageResponseTime`` is in whole milliseconds. ``accountQuotas`` lists each
account's premium-request quota as last fetched by ``/api-keys/{id}/quota``
(never fetched here: the stats cost no GitHub call).

``GET {prefix}/admin/usage`` is the admin console's chart data: requests,
errors and tokens per UTC day (or hour), split by client key, model or
account, from the same ``request_log`` rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
FILTER_MAX = 255
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
# /admin/usage: the period each bucket size covers by default, and at most.
USAGE_BUCKETS = {"day": ("days", 30, 366, DAY_MS), "hour": ("hours", 48, 31 * 24, HOUR_MS)}
USAGE_GROUPS = {"clientKey": "usage_by_client_key", "model": "usage_by_model", "account": "usage_by_account"}
_STATUS_CLASS = re.compile(r"([1-5])xx")


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
    """Newest first; ``clientKeyId``, ``apiKeyId``, ``model`` and ``status`` (``429`` or ``4xx``) filter the rows."""
    page, page_errors = int_param(request.query, "page", default=1, minimum=1, maximum=MAX_PAGE)
    limit, limit_errors = int_param(request.query, "limit", default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)
    filters, filter_errors = _log_filters(request.query)
    if page_errors or limit_errors or filter_errors:
        raise BadRequest(page_errors + limit_errors + filter_errors)
    database = request.config_dict[DATABASE]
    counted = await database.fetch_one(database.queries["count_request_log"], filters)
    rows = await database.fetch_all(
        database.queries["page_request_log"], {**filters, "limit": limit, "offset": (page - 1) * limit}
    )
    return json_response(
        {
            "logs": [_log_entry(row) for row in rows],
            "total": int(counted["total"]) if counted is not None else 0,
            "page": page,
            "limit": limit,
        }
    )


def unfiltered() -> dict[str, Any]:
    """The request-log queries' parameters with no filter set: every row."""
    return dict.fromkeys(("client_key_id", "api_key_id", "model", "status_min", "status_max"))


def _log_filters(query: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    filters = unfiltered()
    messages = []
    for param, column in (("clientKeyId", "client_key_id"), ("apiKeyId", "api_key_id"), ("model", "model")):
        value = query.get(param) or None
        if value is not None and (len(value) > FILTER_MAX or not storable(value)):
            messages.append(f"{param} must be at most {FILTER_MAX} characters, without NUL")
            value = None
        filters[column] = value
    status = query.get("status") or None
    if status is not None:
        if status.isdigit() and len(status) == 3 and 100 <= int(status) <= 599:
            filters["status_min"] = filters["status_max"] = int(status)
        elif match := _STATUS_CLASS.fullmatch(status.lower()):
            filters["status_min"] = int(match.group(1)) * 100
            filters["status_max"] = filters["status_min"] + 99
        else:
            messages.append("status must be a status code (429) or a class of them (4xx)")
    return filters, messages


async def usage(request: web.Request) -> web.Response:
    """Requests, errors and tokens per bucket, split by ``by``: the console's charts.

    ``bucket=day`` (the default) covers ``days`` UTC days up to today (30, at most 366);
    ``bucket=hour`` covers ``hours`` hours up to this one (48, at most 744). ``by`` is
    ``clientKey``, ``model`` (the default) or ``account``. Each series has one number per
    bucket; ``totals`` adds them up.
    """
    query = request.query
    bucket = query.get("bucket", "day")
    by = query.get("by", "model")
    messages = []
    if bucket not in USAGE_BUCKETS:
        messages.append("bucket must be one of day, hour")
        bucket = "day"
    if by not in USAGE_GROUPS:
        messages.append(f"by must be one of {', '.join(USAGE_GROUPS)}")
        by = "model"
    param, default, maximum, width = USAGE_BUCKETS[bucket]
    count, count_errors = int_param(query, param, default=default, minimum=1, maximum=maximum)
    if messages or count_errors:
        raise BadRequest(messages + count_errors)
    now = datetime.now(UTC)
    if bucket == "day":
        current = now.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        current = now.replace(minute=0, second=0, microsecond=0)
    end = epoch_ms(current) + width
    start = end - count * width
    database = request.config_dict[DATABASE]
    rows = await database.fetch_all(
        database.queries[USAGE_GROUPS[by]], {"start": start, "end": end, "bucket_ms": width}
    )
    measures = ("requests", "errors", "tokens", "prompt_tokens", "completion_tokens")
    names = {
        "requests": "requests",
        "errors": "errors",
        "tokens": "tokens",
        "prompt_tokens": "promptTokens",
        "completion_tokens": "completionTokens",
    }
    series: dict[Any, dict[str, Any]] = {}
    totals: dict[str, list[int]] = {names[m]: [0] * count for m in measures}
    for row in rows:
        index = int(row["bucket"])
        if not 0 <= index < count:
            continue
        entry = series.setdefault(
            row["group_id"],
            {"id": row["group_id"], "name": row["group_name"], **{names[m]: [0] * count for m in measures}},
        )
        for measure in measures:
            value = int(row[measure])
            entry[names[measure]][index] += value
            totals[names[measure]][index] += value
    listed = sorted(series.values(), key=lambda entry: (-sum(entry["requests"]), str(entry["id"])))
    for entry in listed:
        for measure in measures:
            key = names[measure]
            entry["total" + key[0].upper() + key[1:]] = sum(entry[key])
    return json_response(
        {
            "bucket": bucket,
            "by": by,
            "from": iso_ms(start),
            "to": iso_ms(end),
            "buckets": [iso_ms(start + i * width) for i in range(count)],
            "series": listed,
            "totals": {
                **totals,
                **{"total" + key[0].upper() + key[1:]: sum(values) for key, values in totals.items()},
            },
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
