async function find(db, name, id) {
  // ruleid: js-sql-string-build
  await db.query("SELECT * FROM users WHERE name = '" + name + "'");
  // ruleid: js-sql-string-build
  await db.query(`SELECT * FROM users WHERE id = ${id}`);
  const q = `DELETE FROM sessions WHERE user = '${name}'`;
  // ruleid: js-sql-string-build
  await db.execute(q);
  // ok: js-sql-string-build
  await db.query("SELECT * FROM users WHERE name = $1", [name]);
  // ok: js-sql-string-build
  await db.query("SELECT count(*) FROM users");
}
module.exports = { find };
