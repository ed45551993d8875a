"""vrrpd vs keepalived, measured side by side in namespace labs: `python -m benchmarks` (`make bench`).

Owns the benchmark harness only: lab scenarios (failover, handover, advert timing, cost at scale, bulk
VIPs, start-up), the reduction of bridge captures and /proc samples to figures, and the report
(docs/benchmarks.md and its plots). It reports; it never asserts. It must not be imported by `vrrpd/`.
"""
