"""The object storage: generated once, deterministic, idempotent, safe for concurrent callers."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from engines.storage import (
    LINEITEMS,
    MARKER,
    ORDERS,
    STORAGE_VERSION,
    TABLES,
    default_storage_path,
    ensure_storage,
    is_ready,
    parquet_files,
)

EXPECTED_ROWS = {"nation": 25, "customer": 15_000, "part": 20_000, "orders": ORDERS, "lineitem": LINEITEMS}


def _digests(path: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())}


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_storage(tmp_path_factory.mktemp("storage") / "data")


def test_generates_every_table_with_its_row_count(storage: Path) -> None:
    assert is_ready(storage)
    assert (storage / MARKER).read_text().strip() == STORAGE_VERSION
    con = duckdb.connect()
    for table, path in parquet_files(storage).items():
        assert path.is_file(), table
        (count,) = con.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchone() or (0,)
        assert count == EXPECTED_ROWS[table], table
    assert set(parquet_files(storage)) == set(TABLES)


def test_keys_join_like_tpch(storage: Path) -> None:
    con = duckdb.connect()
    files = {t: str(p) for t, p in parquet_files(storage).items()}
    for name, path in files.items():
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    orphans = con.execute("""
        SELECT (SELECT count(*) FROM lineitem ANTI JOIN orders ON l_orderkey = o_orderkey),
               (SELECT count(*) FROM lineitem ANTI JOIN part ON l_partkey = p_partkey),
               (SELECT count(*) FROM orders ANTI JOIN customer ON o_custkey = c_custkey),
               (SELECT count(*) FROM customer ANTI JOIN nation ON c_nationkey = n_nationkey)
    """).fetchone()
    assert orphans == (0, 0, 0, 0)
    # Values are spread, not constant: group-bys and filters over them are realistic.
    flags = con.execute("SELECT count(DISTINCT l_returnflag), count(DISTINCT l_shipdate), "
                        "count(DISTINCT l_partkey) FROM lineitem").fetchone()
    assert flags is not None and flags[0] == 3 and flags[1] > 2000 and flags[2] > 19_000


def test_generation_is_deterministic(storage: Path, tmp_path: Path) -> None:
    again = ensure_storage(tmp_path / "again")
    assert _digests(again) == _digests(storage)


def test_second_call_does_not_regenerate(storage: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in storage.iterdir()}
    assert ensure_storage(storage) == storage
    assert {p.name: p.stat().st_mtime_ns for p in storage.iterdir()} == before


def test_stale_version_is_regenerated(tmp_path: Path) -> None:
    stale = tmp_path / "data"
    stale.mkdir()
    (stale / MARKER).write_text("enginewatch-storage-v0\n")
    (stale / "leftover.parquet").write_text("not parquet")
    assert ensure_storage(stale) == stale.resolve()
    assert is_ready(stale)
    assert not (stale / "leftover.parquet").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["data"]


def test_concurrent_callers_share_one_generation(tmp_path: Path) -> None:
    target = tmp_path / "shared"
    code = "import sys; from pathlib import Path; from engines.storage import ensure_storage; " \
           "print(ensure_storage(Path(sys.argv[1])))"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    assert set(outputs) == {str(target.resolve())}
    assert is_ready(target)
    # Staging directories were renamed into place or removed: nothing half-written is left behind.
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["shared"]


def test_environment_overrides_the_default_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ENGINEWATCH_STORAGE", str(tmp_path / "elsewhere"))
    assert default_storage_path() == tmp_path / "elsewhere"
    monkeypatch.delenv("ENGINEWATCH_STORAGE")
    assert default_storage_path() == Path(os.path.expanduser("~")) / ".cache" / "enginewatch" / "storage-v1"
