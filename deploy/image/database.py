"""A throwaway database for the image's smoke test: `create URL NAME` / `drop URL NAME`."""

from __future__ import annotations

import re
import sys

import psycopg


def main(action: str, url: str, name: str) -> None:
    if not re.fullmatch(r"withdraw_image_smoke_\d+", name):
        raise SystemExit(f"refusing to touch database {name!r}")
    with psycopg.connect(url, autocommit=True) as connection:
        if action == "create":
            connection.execute(f'CREATE DATABASE "{name}"')
        else:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main(*sys.argv[1:4])
