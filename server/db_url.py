"""Database URLs as each library wants them: psycopg takes postgresql://, SQLAlchemy a +driver suffix. Used by
the engine, provisioning and the LISTEN connections, so below all of them."""
from __future__ import annotations


def libpq_url(url: str) -> str:
    """psycopg wants postgresql://; SQLAlchemy URLs carry a +driver suffix."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgres") else url


def sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + libpq_url(url).split("://", 1)[1]
