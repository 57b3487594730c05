"""Faults, property-based: any kind, target and parameters give a fault or one usage
error (strategies.py). What each fault kind does to a real link: test_faults_live.py."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import FAULT_PARAMS, GOOD_PARAMS, KINDS, SETTINGS, TEXT, Counter, one_line

from harness.errors import UsageError
from harness.faults import LINK_KINDS, SERVICE_KINDS, Fault


def test_faults_construct_or_refuse(record_property):
    count = Counter(record_property, "faults")

    @settings(max_examples=1000, **SETTINGS)
    @given(KINDS, TEXT, GOOD_PARAMS | FAULT_PARAMS | st.sampled_from([None, [], "x", 1]))
    def prop(kind, target, params):
        count()
        try:
            f = Fault(kind, target, params)
        except UsageError as e:
            assert one_line(e.line()), e.line()
            count.saw("refused")
            return
        count.saw("fault")
        assert f.kind in LINK_KINDS + SERVICE_KINDS and f._streams()
        assert f.describe() == {"kind": kind, "target": target, "params": params}

    prop()
    count.done()
