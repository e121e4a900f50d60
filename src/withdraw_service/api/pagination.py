"""Opaque cursors for newest-first listings: the (createdAt, workflowId) of the last item."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime

from withdraw_service.domain.errors import RequestValidationError
from withdraw_service.domain.withdrawal import WithdrawState


def encode_cursor(last: WithdrawState) -> str:
    return encode_position(last.created_at, last.workflow_id)


def encode_position(at: datetime, ident: str) -> str:
    """A cursor for an item ordered by (time, id)."""
    raw = f"{at.isoformat()}|{ident}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.isprintable():  # a NUL, say: PostgreSQL cannot even compare it
            raise ValueError("not a cursor")
        created, workflow_id = raw.split("|", 1)
        at = datetime.fromisoformat(created)
        # In UTC here, where a crafted offset (0001-01-01T00:00:00+23:59) cannot overflow later.
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        return at, workflow_id
    except (ValueError, OverflowError, UnicodeDecodeError, binascii.Error):
        raise RequestValidationError("cursor is not one this API gave out") from None


def page(states: Sequence[WithdrawState], limit: int) -> tuple[list[WithdrawState], str | None]:
    """`states` holds up to limit + 1 items: the extra one only says there is a next page."""
    items = list(states[:limit])
    more = len(states) > limit
    return items, (encode_cursor(items[-1]) if more and items else None)
