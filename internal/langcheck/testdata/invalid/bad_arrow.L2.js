const items = [1, 2, 3];
const doubled = items.map(x => { x * 2 );
console.log(doubled);
