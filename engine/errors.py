"""Errors the entry points map to exit status 2 / HTTP 400: input the contract rejects."""

from __future__ import annotations


class InvalidInput(Exception):
    """A scenario or step the contract rejects. `field` is a dotted path such as
    `steps[3].mmu_update.index`; nothing was changed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}
