const name = "x";
const a = 1;
const msg = `hello ${name};
console.log(msg);
