"""Benchmark: customers per second through the importer (streaming COPY into staging, row and set checks,
upsert by meter number), beside a raw COPY of the same file into a bare table, measured in the same run.

    .venv/bin/python -m bench.import [--customers 1000000]

The file comes from the demo city (server/demo/city.py): one customer in twenty without coordinates (they take
their transformer's). Then the same file with 1 % of the names changed is imported again: exactly those rows
are updated.
"""
from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import psycopg

from bench._common import bench_database
from server.demo import city
from server.imports.service import ImportOptions, import_file
from server.db_url import libpq_url

HEADER = ("meter_no", "phone", "name", "language", "transformer", "latitude", "longitude")


def _write_customers(path: Path, count: int, changed_every: int | None = None) -> int:
    """The demo's customers as a utility would export them; every `changed_every`-th renamed. Returns the renamed."""
    codes = [t.code for t in city.transformers()]
    renamed = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i, c in enumerate(city.customers(count)):
            name = c.name
            if changed_every and i % changed_every == 0:
                name, renamed = name + " (moved in)", renamed + 1
            placed = i % 20 != 0
            writer.writerow((c.meter_no, c.phone, name, c.language, codes[c.transformer_index],
                             c.lat if placed else "", c.lon if placed else ""))
    return renamed


def _raw_copy(database_url: str, path: Path) -> float:
    """The floor: the same bytes into a table with no keys, no indexes, no checks, one COPY."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute("CREATE TABLE bare_customer (" + ", ".join(f"{c} text" for c in HEADER) + ")")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor().copy("COPY bare_customer FROM STDIN WITH (FORMAT csv, HEADER)") as copy, \
                path.open("rb") as handle:
            while block := handle.read(1 << 20):
                copy.write(block)
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE bare_customer")
        conn.commit()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    args = parser.parse_args()
    count = args.customers
    with tempfile.TemporaryDirectory() as folder, bench_database(customers=0) as url:
        first, second = Path(folder) / "customers.csv", Path(folder) / "customers-updated.csv"
        _write_customers(first, count)
        renamed = _write_customers(second, count, changed_every=100)
        mb = first.stat().st_size / 1e6
        raw_seconds = _raw_copy(url, first)
        started = time.perf_counter()
        report = import_file(url, "customers", first, ImportOptions(actor="bench"))
        import_seconds = time.perf_counter() - started
        assert report.applied and report.inserted == count, report.problems[:5]
        started = time.perf_counter()
        again = import_file(url, "customers", second, ImportOptions(actor="bench"))
        again_seconds = time.perf_counter() - started
        assert again.applied and again.updated == renamed and again.inserted == 0, (again.updated, renamed)
    import_rate, again_rate, raw_rate = count / import_seconds, count / again_seconds, count / raw_seconds
    print(f"file: {count:,} customers, {mb:.0f} MB CSV (1 in 20 without coordinates)")
    print(f"import (COPY → staging, checks, upsert):   {import_rate:9,.0f} rows/s  ({import_seconds:5.1f} s, "
          f"{report.inserted:,} inserted)")
    print(f"re-import with 1 % changed:                {again_rate:9,.0f} rows/s  ({again_seconds:5.1f} s, "
          f"{again.updated:,} updated, {again.unchanged:,} unchanged)")
    print(f"raw COPY of the same file, bare table:     {raw_rate:9,.0f} rows/s  ({raw_seconds:5.1f} s)")
    print(f"ratio import/raw: {import_rate / raw_rate:.2f}   re-import/raw: {again_rate / raw_rate:.2f}")


if __name__ == "__main__":
    main()
