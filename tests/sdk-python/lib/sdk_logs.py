"""Collects WARNING+ log records of the Langfuse SDK and the OTel exporter (export
failures, rejected scores, media upload errors) so that scenarios can assert that the
SDK saw no error and failure reports can show what it complained about."""

from __future__ import annotations

import logging


class SdkLogCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.records.append(f"{record.levelname} {record.name}: {record.getMessage()}")
        except Exception:  # pragma: no cover - never break the SDK's logging
            pass

    def mark(self) -> int:
        return len(self.records)

    def since(self, mark: int) -> list[str]:
        return self.records[mark:]

    def errors_since(self, mark: int) -> list[str]:
        """ERROR/CRITICAL records since `mark` (warnings such as LangChain's "could not
        parse the model name" for fake models are expected)."""
        return [r for r in self.records[mark:] if r.startswith(("ERROR", "CRITICAL"))]


SDK_LOGS = SdkLogCollector()
for _name in ("langfuse", "opentelemetry"):
    _logger = logging.getLogger(_name)
    _logger.addHandler(SDK_LOGS)
    if _logger.level == logging.NOTSET or _logger.level > logging.WARNING:
        _logger.setLevel(logging.WARNING)

