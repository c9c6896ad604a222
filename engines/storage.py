"""The object storage: a directory of Parquet files that engine nodes read and never write.

The data is TPC-H-like (``lineitem`` fact, ``orders``, ``customer``, ``part``, ``nation``) but
generated with plain DuckDB SQL over ``range()``: no extension download (no network), and values come
from integer arithmetic rather than ``random()`` or ``hash()``, so every run on every DuckDB version
yields the same rows. Storage is decoupled from compute: nodes are stateless views over these files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb

#: Bump when the schema or the generated values change: stale directories are then regenerated.
STORAGE_VERSION = "enginewatch-storage-v1"
MARKER = "STORAGE_VERSION"
TABLES: tuple[str, ...] = ("nation", "customer", "part", "orders", "lineitem")

LINEITEMS_PER_ORDER = 4
ORDERS = 250_000
LINEITEMS = ORDERS * LINEITEMS_PER_ORDER
CUSTOMERS = 15_000
PARTS = 20_000

_NATIONS = (
    "ALGERIA", "ARGENTINA", "BRAZIL", "CANADA", "EGYPT", "ETHIOPIA", "FRANCE", "GERMANY", "INDIA",
    "INDONESIA", "IRAN", "IRAQ", "JAPAN", "JORDAN", "KENYA", "MOROCCO", "MOZAMBIQUE", "PERU", "CHINA",
    "ROMANIA", "SAUDI ARABIA", "VIETNAM", "RUSSIA", "UNITED KINGDOM", "UNITED STATES",
)
_NATION_REGIONS = (0, 1, 1, 1, 4, 0, 3, 3, 2, 2, 4, 4, 2, 4, 0, 0, 0, 1, 2, 3, 4, 2, 3, 3, 1)


def _mix(expr: str, salt: int, modulo: int) -> str:
    """A deterministic pseudo-random integer in [0, modulo) from an integer expression.

    A multiplicative hash (Knuth) with a per-column salt: spread enough for realistic group-bys and
    filters, and independent of DuckDB's ``hash()`` whose values may change between versions.
    """
    return f"((({expr}) * 2654435761 + {salt * 40503}) % 4294967296 % {modulo})"


def _tables_sql() -> dict[str, str]:
    nations = ", ".join(
        f"({i}, '{name}', {region})" for i, (name, region) in enumerate(zip(_NATIONS, _NATION_REGIONS, strict=True))
    )
    return {
        "nation": f"SELECT * FROM (VALUES {nations}) AS t(n_nationkey, n_name, n_regionkey)",
        "customer": f"""
            SELECT i AS c_custkey,
                   'Customer#' || lpad(i::VARCHAR, 9, '0') AS c_name,
                   {_mix('i', 1, 25)}::INTEGER AS c_nationkey,
                   (({_mix('i', 2, 1_100_000)} - 100_000) / 100)::DECIMAL(15, 2) AS c_acctbal,
                   ['AUTOMOBILE', 'BUILDING', 'FURNITURE', 'MACHINERY', 'HOUSEHOLD'][{_mix('i', 3, 5)} + 1]
                       AS c_mktsegment
            FROM range(1, {CUSTOMERS + 1}) AS r(i)""",
        "part": f"""
            SELECT i AS p_partkey,
                   'part ' || i::VARCHAR AS p_name,
                   'Brand#' || ({_mix('i', 4, 5)} + 1)::VARCHAR || ({_mix('i', 5, 5)} + 1)::VARCHAR AS p_brand,
                   ['STANDARD', 'SMALL', 'MEDIUM', 'LARGE', 'ECONOMY', 'PROMO'][{_mix('i', 6, 6)} + 1]
                       || ' ' || ['ANODIZED', 'BURNISHED', 'PLATED', 'POLISHED', 'BRUSHED'][{_mix('i', 7, 5)} + 1]
                       || ' ' || ['TIN', 'NICKEL', 'BRASS', 'STEEL', 'COPPER'][{_mix('i', 8, 5)} + 1] AS p_type,
                   ({_mix('i', 9, 50)} + 1)::INTEGER AS p_size,
                   ((90000 + (i // 10) % 20001 + 100 * (i % 1000)) / 100)::DECIMAL(15, 2) AS p_retailprice
            FROM range(1, {PARTS + 1}) AS r(i)""",
        "orders": f"""
            SELECT i AS o_orderkey,
                   {_mix('i', 10, CUSTOMERS)} + 1 AS o_custkey,
                   ['F', 'O', 'P'][{_mix('i', 11, 3)} + 1] AS o_orderstatus,
                   (({_mix('i', 12, 50_000_000)} + 90_000) / 100)::DECIMAL(15, 2) AS o_totalprice,
                   DATE '1992-01-01' + {_mix('i', 13, 2405)}::INTEGER AS o_orderdate,
                   ['1-URGENT', '2-HIGH', '3-MEDIUM', '4-NOT SPECIFIED', '5-LOW'][{_mix('i', 14, 5)} + 1]
                       AS o_orderpriority
            FROM range(1, {ORDERS + 1}) AS r(i)""",
        # Four lines per order, so l_orderkey joins orders the way TPC-H's does.
        "lineitem": f"""
            SELECT i // {LINEITEMS_PER_ORDER} + 1 AS l_orderkey,
                   (i % {LINEITEMS_PER_ORDER} + 1)::INTEGER AS l_linenumber,
                   {_mix('i', 20, PARTS)} + 1 AS l_partkey,
                   {_mix('i', 21, 1000)} + 1 AS l_suppkey,
                   ({_mix('i', 22, 50)} + 1)::DECIMAL(15, 2) AS l_quantity,
                   (({_mix('i', 23, 10_000_000)} + 90_000) / 100.0)::DECIMAL(15, 2) AS l_extendedprice,
                   ({_mix('i', 24, 11)} / 100.0)::DECIMAL(15, 2) AS l_discount,
                   ({_mix('i', 25, 9)} / 100.0)::DECIMAL(15, 2) AS l_tax,
                   ['A', 'N', 'R'][{_mix('i', 26, 3)} + 1] AS l_returnflag,
                   ['F', 'O'][{_mix('i', 27, 2)} + 1] AS l_linestatus,
                   DATE '1992-01-02' + {_mix('i', 28, 2526)}::INTEGER AS l_shipdate,
                   ['AIR', 'FOB', 'MAIL', 'RAIL', 'REG AIR', 'SHIP', 'TRUCK'][{_mix('i', 29, 7)} + 1]
                       AS l_shipmode
            FROM range(0, {LINEITEMS}) AS r(i)""",
    }


def default_storage_path() -> Path:
    override = os.environ.get("ENGINEWATCH_STORAGE")
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "enginewatch" / "storage-v1"


def is_ready(path: Path) -> bool:
    marker = path / MARKER
    return marker.is_file() and marker.read_text().strip() == STORAGE_VERSION


def parquet_files(path: Path) -> dict[str, Path]:
    """Table name → Parquet file of a ready storage directory."""
    return {table: path / f"{table}.parquet" for table in TABLES}


def ensure_storage(path: Path | None = None) -> Path:
    """The storage directory, generated first if missing or of another version. Idempotent.

    Safe for concurrent callers (many pods starting at once): one generates under a lock while the
    others wait, and a reader never sees a half-written directory, because the data is written to a
    temporary sibling and renamed into place with the marker already inside.
    """
    target = (path or default_storage_path()).expanduser().resolve()
    if is_ready(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(target.parent / f".{target.name}.lock"):
        if is_ready(target):  # another caller finished while we waited
            return target
        _generate_into_place(target)
    return target


@contextlib.contextmanager
def _lock(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _generate_into_place(target: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        _generate(staging)
        (staging / MARKER).write_text(STORAGE_VERSION + "\n")
        staging.chmod(0o755)  # mkdtemp makes it private; pods of other users may read the storage
        if target.exists():
            # A stale version (or leftovers): move it aside first, as rename cannot replace a directory.
            stale = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, stale / "data")
            shutil.rmtree(stale, ignore_errors=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _generate(directory: Path) -> None:
    con = duckdb.connect(":memory:")
    try:
        # No progress bar: DuckDB draws one on stdout for statements slower than 2 s (loaded machines).
        con.execute("SET enable_progress_bar = false")
        for table, sql in _tables_sql().items():
            out = str(directory / f"{table}.parquet").replace("'", "''")
            # ROW_GROUP_SIZE: several row groups per large file, so scans have realistic granularity.
            con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)")
    finally:
        con.close()
