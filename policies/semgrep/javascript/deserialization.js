const serialize = require("node-serialize");
const jwt = require("jsonwebtoken");

function load(body, token, key) {
  // ruleid: js-unsafe-deserialization
  const obj = serialize.unserialize(body);
  // ruleid: js-unsafe-deserialization
  const claims = jwt.verify(token, key, { algorithms: ["none"] });
  // ok: js-unsafe-deserialization
  const data = JSON.parse(body);
  // ok: js-unsafe-deserialization
  const good = jwt.verify(token, key, { algorithms: ["HS256"] });
  return [obj, claims, data, good];
}
module.exports = { load };
