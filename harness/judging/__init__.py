"""The judging pipeline: timeline -> metrics -> the judge -> checks -> the entry's outcome.

What scenario files import, and nothing more:

    from harness.judging import Band, Judge, schedules, slack_ms
    from harness.judging.metrics import ms, wire_connections, ...

- `timeline`: driver events, the wire log, the fault log and marks on one clock.
- `metrics`: pure functions of a timeline (attempts, intervals, the message ledger).
- `bands`: the measurement slack and the timing band a check stores.
- `outage`: `Outage`, a fault as judges read it (`j.outage()`, `j.outages()`).
- `judge`: `Judge`, the one place a check's verdict is recorded.
- `schedules`: judging rules shared by scenarios (reconnect schedules, growth, cap,
  jitter, giving up).
Vocabulary and contracts: docs/judging.md.
"""

from harness.judging import metrics, schedules, timeline
from harness.judging.bands import SLACK_MS, Band, slack_ms
from harness.judging.judge import VERDICTS, Judge
from harness.judging.outage import Outage

__all__ = ["SLACK_MS", "VERDICTS", "Band", "Judge", "Outage", "metrics", "schedules", "slack_ms", "timeline"]
