"""Pure domain: money, ledger postings, payment states, history queries. No I/O."""
