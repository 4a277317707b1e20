import { randomBytes } from "crypto";

export function tokens(req: any, res: any): string[] {
  // ruleid: js-insecure-random-secret
  const resetToken = Math.random().toString(36).slice(2);
  // ok: js-insecure-random-secret
  const sessionToken = randomBytes(32).toString("hex");
  // ok: js-insecure-random-secret
  const jitter = Math.random() * 100;
  // ruleid: js-open-redirect
  res.redirect(req.query.next);
  // ok: js-open-redirect
  res.redirect("/home");
  return [resetToken, sessionToken, String(jitter)];
}
