// A React component written as JSX in a .js file (common with Create React
// App and Vite), and CommonJS-style helpers.
import React, { useState, useEffect } from "react";

export function Counter({ start = 0, step = 1 }) {
  const [count, setCount] = useState(start);
  useEffect(() => {
    document.title = `Count: ${count}`;
  }, [count]);
  return (
    <div className="counter">
      <button onClick={() => setCount((c) => c - step)} disabled={count <= 0}>
        -
      </button>
      <span>{count}</span>
      <button onClick={() => setCount((c) => c + step)}>+</button>
      {count > 10 && <p>That is a lot!</p>}
    </div>
  );
}

export const List = ({ items }) => (
  <>
    {items.map((it) => (
      <li key={it.id}>{it.name}</li>
    ))}
  </>
);
