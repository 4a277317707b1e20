const crypto = require("crypto");

function store(password, body) {
  // ruleid: js-weak-password-hash, js-weak-hash-md5-sha1
  const digest = crypto.createHash("md5").update(password).digest("hex");
  // ruleid: js-weak-password-hash
  const other = crypto.createHash("sha256").update(password).digest("hex");
  // ruleid: js-weak-hash-md5-sha1
  const etag = crypto.createHash("sha1").update(body).digest("hex");
  // ok: js-weak-password-hash
  const good = crypto.scryptSync(password, "salt-value", 64);
  // ok: js-weak-hash-md5-sha1
  const fine = crypto.createHash("sha256").update(body).digest("hex");
  return [digest, other, etag, good, fine];
}
module.exports = { store };
