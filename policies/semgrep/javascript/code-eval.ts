export function calc(expr: string, delayMs: number): unknown {
  // ruleid: js-eval
  const value = eval(expr);
  // ruleid: js-eval
  const fn = new Function("a", expr);
  // ruleid: js-eval
  setTimeout("doWork(" + expr + ")", delayMs);
  // ok: js-eval
  const parsed = JSON.parse(expr);
  // ok: js-eval
  setTimeout(() => console.log(parsed), delayMs);
  return [value, fn, parsed];
}
