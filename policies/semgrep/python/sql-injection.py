import sqlite3


def find(conn: sqlite3.Connection, name, uid):
    cur = conn.cursor()
    # ruleid: python-sql-string-build
    cur.execute("SELECT * FROM users WHERE name = '%s'" % name)
    # ruleid: python-sql-string-build
    cur.execute(f"SELECT * FROM users WHERE id = {uid}")
    # ruleid: python-sql-string-build
    cur.execute("DELETE FROM users WHERE name = '" + name + "'")
    query = "SELECT * FROM orders WHERE user = '%s'" % name
    # ruleid: python-sql-string-build
    cur.execute(query)
    # ok: python-sql-string-build
    cur.execute("SELECT * FROM users WHERE name = ?", (name,))
    # ok: python-sql-string-build
    cur.execute("SELECT count(*) FROM users")
    return cur.fetchall()
