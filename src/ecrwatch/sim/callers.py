"""Which account a simulated request acts in: moto's own rule (an access key issued by sts:AssumeRole belongs
to the role's account; any other key is the default account's), remembered per key."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.iam.models import get_account_id_from


def access_key_of(headers: Mapping[str, str], query: Mapping[str, list[str]]) -> str | None:
    """The access key id a request is signed with (SigV4 header or presigned query)."""
    authorization = headers.get("authorization", "")
    marker = "Credential="
    if marker in authorization:
        return authorization.split(marker, 1)[1].split("/", 1)[0]
    credential = query.get("X-Amz-Credential")
    if credential:
        return credential[0].split("/", 1)[0]
    return None


class _KeyAccounts:
    """Access key -> account, by moto's rule, remembered: moto looks through every account's keys."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[str, str] = {}

    def account(self, access_key: str | None) -> str:
        if not access_key:
            return DEFAULT_ACCOUNT_ID
        with self._lock:
            known = self._known.get(access_key)
        if known is not None:
            return known
        # A key is issued once, with a new random id: what it maps to now, it maps to until the next reset.
        account = get_account_id_from(access_key)
        with self._lock:
            self._known[access_key] = account
        return account

    def clear(self) -> None:
        with self._lock:
            self._known.clear()


KEY_ACCOUNTS = _KeyAccounts()


def caller_account(headers: Mapping[str, str], query: Mapping[str, list[str]]) -> str:
    """The account a request acts in."""
    return KEY_ACCOUNTS.account(access_key_of(headers, query))
