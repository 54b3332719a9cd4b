import React from "react";

export function List<T>({ items }: { items: T[] }) {
  return <ul>{items.map((i) => <li>{String(i)}</li>}</ul>;
}
