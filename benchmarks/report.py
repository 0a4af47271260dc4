"""The one table the benchmark prints: every measurement beside its reference and target."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class Row:
    check: str
    measured: str
    reference: str
    target: str
    ok: bool | None  # None: not measurable (n/a), or information without a target ("—")

    @property
    def verdict(self) -> str:
        if self.ok is None:
            return "—" if self.target == "—" else "n/a"
        return "PASS" if self.ok else "FAIL"


def seconds(value: float) -> str:
    return f"{value:.1f} s"


def millis(value: float) -> str:
    return f"{value * 1000:.0f} ms"


def mib(value: float) -> str:
    return f"{value / MiB:.0f} MiB"


def render(title: str, header: list[str], rows: list[Row], notes: list[str]) -> str:
    columns = ["check", "measured", "floor / reference", "target", "result"]
    cells = [[r.check, r.measured, r.reference, r.target, r.verdict] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    out = [title, *header, "", line(columns), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(row) for row in cells]
    if notes:
        out += ["", *notes]
    return "\n".join(out)
