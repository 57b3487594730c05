"""Fault-injection harness for messaging clients.

Real servers behind a real Toxiproxy, real client libraries run as instrumented
drivers, faults on a schedule, everything recorded on one clock and held against
what each library's documentation promises. See docs/ and ../shared/DESIGN.md.
"""

__version__ = "0.1.0"
