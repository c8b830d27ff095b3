"""A doctor's findings: one plain line each, and whether any blocks start-up."""

from __future__ import annotations

from dataclasses import dataclass, field

OK, NOTE, WARN, FAIL = "ok", "note", "warn", "FAIL"
EXIT_BLOCKED = 1
EXIT_SETTINGS = 2


@dataclass(frozen=True)
class Finding:
    level: str
    topic: str
    text: str

    def line(self) -> str:
        return f"{self.level:<4}  {self.topic}: {self.text}"


@dataclass
class Report:
    """The findings in the order they were made; any FAIL blocks start-up."""

    findings: list[Finding] = field(default_factory=list)

    def add(self, level: str, topic: str, text: str) -> None:
        self.findings.append(Finding(level, topic, text))

    @property
    def blocked(self) -> bool:
        return any(f.level == FAIL for f in self.findings)

    @property
    def exit_status(self) -> int:
        return EXIT_BLOCKED if self.blocked else 0

    def lines(self) -> list[str]:
        return [f.line() for f in self.findings]
