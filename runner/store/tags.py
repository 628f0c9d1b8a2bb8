"""Tags of the jobs in the store (the same SQLite database), by ARN, as AddTags, ListTags and
DeleteTags keep them: a key has one value, adding it again replaces the value, and tags come
back in the order their keys were first added."""

from __future__ import annotations

from typing import Any

from runner.store.jobs import Store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tags (
    arn TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (arn, key)
);
"""


class TagStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        store.executescript(_SCHEMA)

    def add(self, arn: str, tags: list[dict[str, Any]]) -> None:
        for tag in tags:
            self.store.execute(
                "INSERT INTO tags(arn, key, value) VALUES (?, ?, ?)"
                " ON CONFLICT(arn, key) DO UPDATE SET value = excluded.value",
                (arn, str(tag["Key"]), str(tag.get("Value", ""))),
            )

    def of(self, arn: str) -> list[dict[str, str]]:
        rows = self.store.query("SELECT key, value FROM tags WHERE arn = ? ORDER BY rowid", (arn,))
        return [{"Key": key, "Value": value} for key, value in rows]

    def delete(self, arn: str, keys: list[str]) -> None:
        for key in keys:
            self.store.execute("DELETE FROM tags WHERE arn = ? AND key = ?", (arn, key))
