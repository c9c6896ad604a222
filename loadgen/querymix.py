"""A realistic read mix over the reference object storage: millisecond lookups to multi-second scans.

Weights follow the shape of interactive warehouse traffic: many point lookups and dashboard
aggregates, a few joins, rare heavy scans. Parameters are drawn from a seeded RNG so that a run is
reproducible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class QueryTemplate:
    kind: str
    weight: float
    sql: str

    def render(self, rng: random.Random) -> str:
        return self.sql.format(
            orderkey=rng.randrange(1, 250_000),
            custkey=rng.randrange(1, 15_000),
            partkey=rng.randrange(1, 20_000),
            nation=rng.randrange(0, 25),
            year=rng.randrange(1993, 1998),
            scale=rng.randrange(50, 250),
        )


MIX: tuple[QueryTemplate, ...] = (
    QueryTemplate("lookup", 0.59,
                  "SELECT o_orderkey, o_orderstatus, o_totalprice FROM orders WHERE o_orderkey = {orderkey}"),
    QueryTemplate("lookup", 0.10,
                  "SELECT c_name, c_mktsegment FROM customer WHERE c_custkey = {custkey}"),
    QueryTemplate("aggregate", 0.20,
                  "SELECT l_returnflag, l_linestatus, sum(l_quantity) AS qty, avg(l_extendedprice) AS price, "
                  "count(*) AS n FROM lineitem WHERE l_shipdate < DATE '{year}-06-01' "
                  "GROUP BY ALL ORDER BY ALL"),
    QueryTemplate("join", 0.10,
                  "SELECT n.n_name, sum(o.o_totalprice) AS revenue FROM orders o "
                  "JOIN customer c ON c.c_custkey = o.o_custkey JOIN nation n ON n.n_nationkey = c.c_nationkey "
                  "WHERE year(o.o_orderdate) = {year} GROUP BY ALL ORDER BY revenue DESC"),
    # Multi-second on one core (about 1 s per 100 of scale): rare, as heavy scans are in interactive traffic.
    QueryTemplate("scan", 0.01,
                  "SELECT l_suppkey % 100 AS bucket, sum(l_extendedprice * (1 - l_discount) * r) AS v "
                  "FROM lineitem, range(1, {scale}) t(r) GROUP BY ALL ORDER BY v DESC LIMIT 10"),
)


class QueryMix:
    def __init__(self, seed: int = 42, templates: tuple[QueryTemplate, ...] = MIX,
                 kinds: tuple[str, ...] | None = None) -> None:
        self.rng = random.Random(seed)
        self.templates = tuple(t for t in templates if kinds is None or t.kind in kinds)
        if not self.templates:
            raise ValueError(f"no query template of kinds {kinds}")
        self.weights = [t.weight for t in self.templates]

    def next(self) -> tuple[str, str]:
        """(kind, sql) of the next query."""
        t = self.rng.choices(self.templates, self.weights)[0]
        return t.kind, t.render(self.rng)
