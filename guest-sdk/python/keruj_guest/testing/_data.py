"""The company's ``kv`` and ``secrets``, read and seeded through the dev
host's ``/_dev/api/data`` (the same storage, limits and encryption as the
app's own calls), and the data folder searched for plain text."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any, List, Optional

from ._client import Body, _bytes, _DevApi, _encode


class _Data(_DevApi):
    """The data part of :class:`TestApp`."""

    def kv_get(self, company: str, key: str) -> Optional[bytes]:
        """What the app stored in ``kv`` under ``key`` for ``company``."""
        return self._get("kv", company, key)

    def kv_get_json(self, company: str, key: str) -> Any:
        """:meth:`kv_get` read as JSON (what ``kv.set_json`` stored); None
        when there is none."""
        stored = self.kv_get(company, key)
        if stored is None:
            return None
        try:
            return json.loads(stored)
        except ValueError as error:
            raise AssertionError(f"kv {key!r} of {company} is not the JSON expected: {error}") from None

    def kv_keys(self, company: str) -> List[str]:
        """The names the app stored in ``kv`` for ``company``, in order."""
        listed = self._api("GET", self._data_query("kv", company))
        return [key for key in listed.get("keys") or [] if isinstance(key, str)]

    def kv_set(self, company: str, key: str, value: Body) -> None:
        """Stores ``value`` in ``kv`` under ``key`` for ``company``, as the app
        would. The company must be installed."""
        self._set("kv", company, key, _bytes(value))

    def secret_get(self, company: str, name: str) -> Optional[str]:
        """The secret ``name`` of ``company``, decrypted."""
        stored = self._get("secrets", company, name)
        return None if stored is None else stored.decode("utf-8")

    def secret_set(self, company: str, name: str, value: str) -> None:
        """Stores the secret ``name`` for ``company`` (encrypted, as the app's
        ``secrets.set`` does). The company must be installed."""
        self._set("secrets", company, name, value.encode("utf-8"))

    def is_installed(self, company: str) -> bool:
        """Whether ``company`` has the app installed."""
        return self._api("GET", self._data_query("kv", company)).get("installed") is True

    def stored_in_plaintext(self, needle: Body) -> bool:
        """Whether ``needle`` (a str as UTF-8) occurs in plain text in any file
        of the host's data folder (the store flushed to disk first): how a test
        proves that a secret the app stored is encrypted at rest."""
        wanted = _bytes(needle)
        if not wanted:
            raise ValueError("look for at least one byte")
        self._api("POST", "/_dev/api/flush")
        for folder, _, files in os.walk(self._folder / "data"):
            for file in files:
                try:
                    if wanted in Path(folder, file).read_bytes():
                        return True
                except OSError:
                    continue
        return False

    def _get(self, space: str, company: str, key: str) -> Optional[bytes]:
        read = self._api("GET", self._data_query(space, company, key))
        encoded = read.get("value_base64")
        return base64.b64decode(encoded) if isinstance(encoded, str) else None

    def _set(self, space: str, company: str, key: str, value: bytes) -> None:
        self._api("PUT", "/_dev/api/data", {"app": self._name, "company": company, "space": space, "key": key,
                                            "value_base64": base64.b64encode(value).decode("ascii")})

    def _data_query(self, space: str, company: str, key: Optional[str] = None) -> str:
        query = f"/_dev/api/data?app={_encode(self._name)}&company={_encode(company)}&space={space}"
        return query if key is None else f"{query}&key={_encode(key)}"
