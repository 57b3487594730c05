"""benchmarks/cpu_share.py: which kind each process of a run is charged to."""

from __future__ import annotations

import importlib.util

import pytest

from harness import paths

_spec = importlib.util.spec_from_file_location("cpu_share", paths.ROOT / "benchmarks" / "cpu_share.py")
assert _spec is not None and _spec.loader is not None
cpu_share = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cpu_share)


@pytest.mark.parametrize(
    ("cmdline", "kind"),
    [
        ("/w/.venv/bin/python -m harness run nats.* --jobs auto", "harness (python)"),
        ("/w/.venv/bin/python -m harness.noise", "noise probe"),
        ("/usr/bin/java -Dartemis.home=/w/.tools/artemis org.apache.activemq.artemis.boot.Artemis run", "Artemis JVM"),
        ("/usr/bin/java -cp /w/.tools/qpid-jms/driver.jar Main cfg.json", "client driver (JVM)"),
        ("/w/.tools/bin/nats-server -c n1.conf", "nats-server"),
        ("/w/.tools/bin/toxiproxy-harness -host 127.0.0.1 -port 1", "toxiproxy"),
        ("/w/.tools/bin/driver-nats-go client.config.json", "client driver (go, rust)"),
        ("node /w/harness/drivers/rhea/driver.js client.config.json", "client driver (node)"),
        ("/w/.venv/bin/python /w/harness/drivers/nats_py/driver.py c.json", "client driver (python)"),
        ("sshd: root", "other"),
    ],
)
def test_each_process_is_charged_to_its_kind(cmdline, kind):
    assert cpu_share.kind_of(cmdline) == kind


def test_it_takes_a_command_or_a_time_not_both_nor_neither(capsys):
    for argv in ([], ["--seconds", "1", "--", "true"]):
        with pytest.raises(SystemExit) as e:
            cpu_share.main(argv)
        assert "either a command" in str(e.value)
