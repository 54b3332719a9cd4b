# Python 3.12 syntax: PEP 695 generics and type aliases, PEP 701 f-strings,
# exception groups, positional-only parameters, structural pattern matching.
import contextlib
from collections.abc import Callable, Iterator

type Point = tuple[float, float]
type Tree[T] = T | list[Tree[T]]


class Stack[T]:
    def __init__(self) -> None:
        self._items: list[T] = []

    def push(self, item: T, /) -> None:
        self._items.append(item)

    def __iter__(self) -> Iterator[T]:
        yield from reversed(self._items)


def apply[T, R](fn: Callable[[T], R], value: T, *, times: int = 1) -> R:
    result = fn(value)
    return result


def describe(shape: object) -> str:
    match shape:
        case {"kind": "circle", "r": r} if r > 0:
            return f"circle of radius {r}"
        case [Point() as p, *_]:
            return f"list starting at {p}"
        case (0, 0) | (0.0, 0.0):
            return "origin"
        case str() | bytes():
            return "text"
        case _:
            return "?"


songs = ["a", "b"]
# PEP 701: the same quotes inside the replacement field, nesting, comments.
print(f"This is the playlist: {", ".join(songs)}")
print(f"{f"{f"{1 + 1}"}"}")
total = f"{
    sum(
        x * 2  # doubled
        for x in range(10)
    )
}"
width, precision = 10, 3
print(f"{3.14159:{width}.{precision}f}|{'left':<{width}}|{42!r}|{total=}")
print(f"{'\n'.join(songs)}")
print(rb"\d+", Rb'\w', br"x", u"unicode", fr"{width}\n", Rf'{{literal}}')

try:
    raise ExceptionGroup("many", [ValueError(1), TypeError(2)])
except* ValueError as eg:
    print("values", eg.exceptions)
except* TypeError:
    pass

with (
    contextlib.suppress(KeyError),
    open(__file__) as fh,
):
    first_line = fh.readline()

numbers = [1_000_000, 0x_FF, 0o17, 0b1010, 1e-3, 3.14j, .5, 5.]
matrix = [[1, 2], [3, 4]]
product = matrix[0] @ matrix[1] if False else None
lambda_ = lambda *a, **k: (a, k)
global_counter = 0


def bump() -> int:
    global global_counter
    global_counter += 1
    return global_counter


async def gen():
    async for x in aiter([]):
        yield x
    await something() if False else None


def something():
    pass


if (n := len(numbers)) > 3 and not (n % 2 == 1):
    print(n, *numbers, sep=", ")
s = 'it\'s' "concat" '''triple
with 'quotes' and "more"''' """and \
continued"""
x = 1 if s else \
    2
assert x, "message"
del x
print(f"{'nested ' + f'{n:>{width}}'}", end='')
