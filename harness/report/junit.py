"""A JUnit XML file of a run's entries, for CI systems that show test results: what
`pytest --junitxml` gives for the scenario suite, written from results.json instead
(`harness merge`; docs/results-schema.md).

One testcase per entry, named as the pytest item (`scenario[client]`). It fails when
the entry's outcome is error or interrupted or the baseline gate (baseline.compare)
reports a problem, and is skipped when the outcome is skipped, as the pytest item is;
each check's verdict is a property (name = check id), as the plugin records them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from harness import baseline

FILENAME = "junit.xml"


def render(res: dict, known: dict[tuple[str, str, str], baseline.Known]) -> str:
    suite = ET.Element("testsuite", name="harness", timestamp=res["run"]["started_at"])
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_s = 0.0
    for e in res["entries"]:
        took = max(0.0, (e["ended_ns"] - e["started_ns"]) / 1e9) if e.get("ended_ns") else 0.0
        total_s += took
        case = ET.SubElement(
            suite, "testcase", classname=e["scenario"], name=f"{e['scenario']}[{e['client']}]", time=f"{took:.3f}"
        )
        counts["tests"] += 1
        if e["checks"]:
            props = ET.SubElement(case, "properties")
            for c in e["checks"]:
                ET.SubElement(props, "property", name=c["id"], value=c["verdict"])
        outcome = e["outcome"]
        if outcome["result"] == "skipped":
            ET.SubElement(case, "skipped", message=outcome["reason"] or "not run on this backend")
            counts["skipped"] += 1
            continue
        problems = baseline.compare(e, known)  # an error or interrupted outcome is a problem too
        if problems:
            failure = ET.SubElement(case, "failure", message=problems[0])
            failure.text = "\n".join(problems)
            counts["failures"] += 1
    for k, v in counts.items():
        suite.set(k, str(v))
    suite.set("time", f"{total_s:.3f}")
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
