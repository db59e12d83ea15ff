"""Name -> object registries for everything chosen by name (schemes, models, datasets).

Looking up an unknown name raises :class:`~bitrobust.errors.BitrobustError` listing
the valid choices, so a typo on the command line gets a useful one-line message.
"""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from bitrobust.errors import BitrobustError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of factories or values of one kind (e.g. ``"model"``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``."""

        def wrap(obj: T) -> T:
            self.add(name, obj)
            return obj

        return wrap

    def add(self, name: str, obj: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise BitrobustError(
                f"unknown {self.kind} {name!r}; valid: {', '.join(sorted(self._items))}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
