"""What an import says back: the problems that stop it and the report of what it did."""
from __future__ import annotations

from dataclasses import dataclass, field

MAX_SHOWN_PROBLEMS = 50
# Per check, keep at most this many formatted messages (a 100k-row file with one bad column
# should not build 100k strings just to show 50 of them); the count stays exact.
_KEEP_PER_CHECK = 200


class IngestError(Exception):
    """The file cannot be imported; ``problems`` name file, row/feature and field. Nothing was written."""

    def __init__(self, problems: list[str] | str, total: int | None = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.total = total if total is not None else len(self.problems)
        super().__init__(self.render())

    def render(self, limit: int = MAX_SHOWN_PROBLEMS) -> str:
        shown = self.problems[:limit]
        lines = list(shown)
        if self.total > len(shown):
            lines.append(f"… and {self.total - len(shown)} more problems ({self.total} in all); nothing was imported.")
        elif self.total > 1:
            lines.append(f"{self.total} problems; nothing was imported.")
        else:
            lines.append("Nothing was imported.")
        return "\n".join(lines)


@dataclass
class Problems:
    """Collects every validation problem before anything is written (atomic imports)."""

    entries: list[tuple[int, str]] = field(default_factory=list)
    total: int = 0

    def add(self, position: int, message: str) -> None:
        self.entries.append((position, message))
        self.total += 1

    def add_many(self, positions, messages) -> None:
        """``positions``: row positions (sorted); ``messages``: a callable position → text, or texts."""
        positions = list(positions)
        self.total += len(positions)
        kept = positions[:_KEEP_PER_CHECK]
        if callable(messages):
            self.entries.extend((p, messages(p)) for p in kept)
        else:
            self.entries.extend(zip(kept, list(messages)[: len(kept)]))

    def __bool__(self) -> bool:
        return self.total > 0

    def raise_if_any(self) -> None:
        if self.total:
            ordered = [message for _, message in sorted(self.entries, key=lambda e: e[0])]
            raise IngestError(ordered, total=self.total)


@dataclass
class IngestReport:
    """What an import did: rows, repairs (per feature), warnings, the catalogue entry and version."""

    kind: str
    file: str
    dataset_code: str = ""
    rows_read: int = 0
    rows_written: int = 0
    inserted: int = 0
    updated: int = 0
    row_count: int = 0
    data_version: int | None = None
    dry_run: bool = False
    columns: dict[str, str] = field(default_factory=dict)  # target field → source column
    repairs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, int] = field(default_factory=dict)  # e.g. sensors created
    tables: set[str] = field(default_factory=set)  # tables written, declared to the catalogue for the cache
    # Districts of the rows written and of the rows they replaced (``record_change``); None: not known.
    partitions: set[str] | None = field(default_factory=set)

    def note_partitions(self, districts: set[str] | None) -> None:
        self.partitions = None if districts is None or self.partitions is None else self.partitions | districts

    def render(self, max_lines: int = 200) -> str:
        lines = [f"{self.file}: {self.kind}, {self.rows_read} records read"]
        if self.columns:
            lines.append("columns: " + ", ".join(f"{target} ← {source}" for target, source in self.columns.items()))
        for note in self.notes:
            lines.append(f"note: {note}")
        if self.repairs:
            lines.append(f"repaired {len(self.repairs)}:")
            lines.extend(f"  {r}" for r in self.repairs[:max_lines])
            if len(self.repairs) > max_lines:
                lines.append(f"  … and {len(self.repairs) - max_lines} more")
        for name, count in self.extra.items():
            lines.append(f"{name}: {count}")
        if self.dry_run:
            lines.append(f"dry run: {self.rows_written} rows valid, nothing written")
        else:
            lines.append(
                f"wrote {self.rows_written} rows ({self.inserted} new, {self.updated} updated) to dataset {self.dataset_code}; "
                f"{self.row_count} rows now; data version {self.data_version}"
            )
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {
            "kind": self.kind, "file": self.file, "dataset": self.dataset_code, "rows_read": self.rows_read,
            "rows_written": self.rows_written, "inserted": self.inserted, "updated": self.updated,
            "row_count": self.row_count, "data_version": self.data_version, "dry_run": self.dry_run,
            "columns": self.columns, "repairs": self.repairs, "notes": self.notes, **self.extra,
        }
