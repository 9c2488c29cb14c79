"""Load benchmark for the Tukilinja gateway: ``python -m bench run`` (see docs/performance.md)."""
