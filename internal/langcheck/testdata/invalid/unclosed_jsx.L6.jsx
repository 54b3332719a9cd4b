export function Card({ title }) {
  return (
    <div className="card">
      <h2>{title}</h2>
      <p>text
    </div>
  );
}
