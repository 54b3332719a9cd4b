"""A small Flask app: decorators, f-strings, match, type hints, async, walrus."""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask, abort, jsonify, request

app = Flask(__name__)
T = TypeVar("T")
SLUG = re.compile(r"^[a-z0-9-]+$")


@dataclass(frozen=True, slots=True)
class Item:
    id: int
    name: str
    tags: list[str] = field(default_factory=list)
    price: float | None = None

    def label(self, width: int = 20) -> str:
        return f"{self.name!r:<{width}} #{self.id:05d} {'/'.join(self.tags) or '-'}"


ITEMS: dict[int, Item] = {
    1: Item(1, "tea", ["drink", "hot"], 2.5),
    2: Item(2, "cake", price=4.0),
}


def first(xs: list[T], default: T | None = None) -> T | None:
    return xs[0] if xs else default


@app.route("/items/<int:item_id>", methods=["GET", "DELETE"])
def item(item_id: int) -> Any:
    if (found := ITEMS.get(item_id)) is None:
        abort(404)
    match request.method:
        case "GET":
            return jsonify(id=found.id, label=found.label())
        case "DELETE" if item_id > 1:
            del ITEMS[item_id]
            return "", 204
        case _:
            abort(405)


@app.post("/items")
def create() -> tuple[dict[str, Any], int]:
    data = request.get_json(force=True) or {}
    match data:
        case {"name": str(name), "tags": [*tags]}:
            pass
        case {"name": str(name)}:
            tags = []
        case _:
            return {"error": "name is required"}, 400
    new = Item(max(ITEMS, default=0) + 1, name, [t.lower() for t in tags if SLUG.match(t)])
    ITEMS[new.id] = new
    return {"id": new.id, "total": f"{sum(i.price or 0 for i in ITEMS.values()):.2f}"}, 201


async def fetch_all(ids: list[int], *, delay: float = 0.01) -> list[Item]:
    async def one(i: int) -> Item:
        await asyncio.sleep(delay)
        return ITEMS[i]

    results = await asyncio.gather(*(one(i) for i in ids if i in ITEMS))
    async with asyncio.timeout(1):
        pass
    return [r for r in results]


def stats(*args: int, **kwargs: str) -> str:
    head, *rest = args or (0,)
    lines = [
        f"head={head}",
        f"rest={rest}",  # trailing comma next
    ]
    for key, value in sorted(kwargs.items()):
        lines.append(f"{key}={value}")
    else:
        lines.append("done")
    return "\n".join(lines)


if __name__ == "__main__":
    print(stats(1, 2, 3, mode="dev"), end="\n\n")
    print(asyncio.run(fetch_all([1, 2])))
    app.run(debug=True)
