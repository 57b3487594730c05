"""`harness merge`: the results of shards (`harness run --shard I/N`, one folder each,
from as many machines) combined into one run.

Shards combine only when they are parts of one run: the same harness version, the same
backend, the same user options, and no scenario x client in two of them. The merged
run keeps every entry as its shard recorded it and lists its shards in run["shards"]
(docs/results-schema.md); it is complete only when every shard was and, when the shards
say which of N they are, all N are there.
"""

from __future__ import annotations

from pathlib import Path

from harness import results, shards
from harness.errors import UsageError

Part = tuple[Path, dict]


def load(folders: list[Path]) -> list[Part]:
    """Each folder's results.json (or the file itself), or one line naming what is wrong."""
    parts = []
    for folder in folders:
        path = folder / results.FILENAME if folder.is_dir() else folder
        if not path.is_file():
            raise UsageError(f"{folder} holds no {results.FILENAME}", "give the output folders of `harness run`")
        parts.append((folder, results.load(path)))
    return parts


def _one(parts: list[Part], what: str, value) -> object:
    """The value every part agrees on, or a UsageError naming two that differ."""
    seen = {}
    for folder, res in parts:
        seen.setdefault(repr(value(res)), (folder, value(res)))
    if len(seen) > 1:
        (a, va), (b, vb) = list(seen.values())[:2]
        raise UsageError(f"shards of different {what}: {a} has {va!r}, {b} has {vb!r}", "merge shards of one run")
    return next(iter(seen.values()))[1]


def _check_shard_labels(parts: list[Part]) -> None:
    labels = [(folder, res["run"].get("shard")) for folder, res in parts]
    known = [(folder, shards.parse(lab)) for folder, lab in labels if lab]
    counts = {n for _, (_, n) in known}
    if len(counts) > 1:
        raise UsageError(f"shards of different splits: {', '.join(f'{f} is {shards.label(s)}' for f, s in known)}")
    seen: dict[int, Path] = {}
    for folder, (i, n) in known:
        if i in seen:
            raise UsageError(f"shard {i}/{n} twice: {seen[i]} and {folder}")
        seen[i] = folder


def gaps(parts: list[Part]) -> list[str]:
    """What the merged run lacks: shards of the split not given (one line each)."""
    known = [shards.parse(res["run"]["shard"]) for _, res in parts if res["run"].get("shard")]
    if not known or len(known) != len(parts):
        return []
    count = known[0][1]
    missing = sorted(set(range(1, count + 1)) - {i for i, _ in known})
    if not missing:
        return []
    return [f"the merged run lacks shard(s) {', '.join(f'{i}/{count}' for i in missing)}; it is marked incomplete"]


def merge(parts: list[Part], command: list[str] | None = None) -> dict:
    """One results document holding every shard's entries (sorted by scenario, client)."""
    if not parts:
        raise UsageError("name at least one shard folder")
    version = _one(parts, "harness versions", lambda r: r["run"]["harness_version"])
    backend = _one(parts, "backends", lambda r: r["run"]["backend"])
    options = _one(parts, "user options", lambda r: r["run"].get("options", {}))
    _check_shard_labels(parts)
    owner: dict[tuple[str, str], Path] = {}
    entries = []
    for folder, res in parts:
        for e in res["entries"]:
            key = (e["scenario"], e["client"])
            if key in owner:
                raise UsageError(f"{key[0]} / {key[1]} is in two shards: {owner[key]} and {folder}")
            owner[key] = folder
            entries.append(e)
    seeds = {res["run"].get("seed") for _, res in parts}
    res = results.new(str(backend), seeds.pop() if len(seeds) == 1 else None, command)
    res["run"]["harness_version"] = version
    if options:
        res["run"]["options"] = options
    res["run"]["started_at"] = min(r["run"]["started_at"] for _, r in parts)
    res["run"]["shards"] = [
        {
            "folder": str(folder),
            "id": r["run"]["id"],
            "shard": r["run"].get("shard"),
            "command": r["run"]["command"],
            "host": r["run"]["host"],
            "started_at": r["run"]["started_at"],
            "finished_at": r["run"].get("finished_at"),
            "complete": r["complete"],
            "entries": len(r["entries"]),
        }
        for folder, r in parts
    ]
    res["entries"] = sorted(entries, key=lambda e: (e["scenario"], e["client"]))
    results.finish(res, all(r["complete"] for _, r in parts) and not gaps(parts))
    ends = [r["run"]["finished_at"] for _, r in parts if r["run"].get("finished_at")]
    if len(ends) == len(parts):
        res["run"]["finished_at"] = max(ends)
    return res


def write_junit(res: dict, out: Path, baseline_file: Path | None = None) -> Path:
    """OUT/junit.xml of the merged entries, gated on the baseline (docs/results-schema.md)."""
    from harness import baseline
    from harness.report import junit

    known = baseline.load(baseline_file or baseline.DEFAULT)
    path = out / junit.FILENAME
    try:
        path.write_text(junit.render(res, known))
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    return path
