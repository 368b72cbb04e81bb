// The `fennec` command line.
console.error('fennec: the broker is not built yet');
process.exitCode = 1;
