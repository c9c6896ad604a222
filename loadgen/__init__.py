"""Open-loop load through the gateway with a realistic query mix, and the per-query ledger it writes."""

from loadgen.ledger import Entry, Ledger, summarize
from loadgen.load import LoadGenerator, LoadSpec
from loadgen.querymix import QueryMix

__all__ = ["Entry", "Ledger", "LoadGenerator", "LoadSpec", "QueryMix", "summarize"]
