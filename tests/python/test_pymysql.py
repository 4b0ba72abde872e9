"""PyMySQL through sluice: a client without DEPRECATE_EOF or SESSION_TRACK, compared with a direct
connection. Run by tests/tests/proxy/pymysql.rs with the addresses in the environment:
SLUICE_PORT, DIRECT_PORT, SCHEMA (user app/app on both)."""

import os
import tempfile
import unittest

import pymysql
from pymysql.constants import CLIENT

PROXY = int(os.environ["SLUICE_PORT"])
DIRECT = int(os.environ["DIRECT_PORT"])
SCHEMA = os.environ["SCHEMA"]


def connect(port, **kw):
    return pymysql.connect(host="127.0.0.1", port=port, user="app", password="app", database=SCHEMA, **kw)


class ThroughSluice(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        c = connect(DIRECT)
        with c.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS py_types")
            cur.execute(
                "CREATE TABLE py_types (id INT PRIMARY KEY, i BIGINT, u BIGINT UNSIGNED, f DOUBLE,"
                " d DECIMAL(20,6), s VARCHAR(50), b BLOB, dt DATETIME(6), t TIME, y YEAR, j JSON, e ENUM('a','b')) DEFAULT CHARSET=utf8mb4"
            )
            cur.execute(
                "INSERT INTO py_types VALUES (1, -9223372036854775808, 18446744073709551615, 1.5, '-1.000001',"
                " 'ünï ☃', x'00ff', '2020-01-02 03:04:05.678901', '-01:02:03', 2000, '{\"a\": 1}', 'b'),"
                " (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
            )
        c.commit()
        c.close()

    def test_select_matches_direct(self):
        q = "SELECT * FROM py_types ORDER BY id"
        want = connect(DIRECT).cursor()
        want.execute(q)
        got = connect(PROXY).cursor()
        got.execute(q)
        self.assertEqual(got.fetchall(), want.fetchall())
        self.assertEqual([d[:2] for d in got.description], [d[:2] for d in want.description])

    def test_dml_counts_and_transactions(self):
        c = connect(PROXY)
        cur = c.cursor()
        cur.execute("CREATE TABLE IF NOT EXISTS py_tx (id INT PRIMARY KEY AUTO_INCREMENT, v INT)")
        cur.executemany("INSERT INTO py_tx (v) VALUES (%s)", [(1,), (2,), (3,)])
        self.assertEqual(cur.rowcount, 3)
        c.commit()
        cur.execute("UPDATE py_tx SET v = v + 1 WHERE v >= 2")
        self.assertEqual(cur.rowcount, 2)
        c.rollback()
        cur.execute("SELECT SUM(v) FROM py_tx")
        self.assertEqual(int(cur.fetchone()[0]), 6)
        c.select_db("information_schema")  # COM_INIT_DB
        cur.execute("SELECT DATABASE()")
        self.assertEqual(cur.fetchone()[0], "information_schema")
        c.ping()

    def test_multi_statements_when_enabled(self):
        c = connect(PROXY, client_flag=CLIENT.MULTI_STATEMENTS)
        cur = c.cursor()
        cur.execute("SELECT 1; SELECT 2, 3")
        self.assertEqual(cur.fetchall(), ((1,),))
        self.assertTrue(cur.nextset())
        self.assertEqual(cur.fetchall(), ((2, 3),))

    def test_multi_statements_refused_when_not_enabled(self):
        cur = connect(PROXY).cursor()
        with self.assertRaises(pymysql.err.ProgrammingError) as e:
            cur.execute("SELECT 1; SELECT 2")
        self.assertEqual(e.exception.args[0], 1064)

    def test_large_blob_over_16_mib(self):
        c = connect(PROXY)
        cur = c.cursor()
        cur.execute("CREATE TABLE IF NOT EXISTS py_big (id INT PRIMARY KEY, b LONGBLOB)")
        blob = bytes(range(256)) * (17 * 4096)  # 17 MiB
        cur.execute("REPLACE INTO py_big VALUES (1, %s)", (blob,))
        c.commit()
        cur.execute("SELECT b FROM py_big WHERE id = 1")
        self.assertEqual(cur.fetchone()[0], blob)

    def test_load_data_local_infile(self):
        c = connect(PROXY, local_infile=True)
        cur = c.cursor()
        cur.execute("CREATE TABLE IF NOT EXISTS py_load (a INT, b VARCHAR(10))")
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
            f.write("".join(f"{i},row{i}\n" for i in range(1000)))
        try:
            cur.execute(f"LOAD DATA LOCAL INFILE '{f.name}' INTO TABLE py_load FIELDS TERMINATED BY ','")
            self.assertEqual(cur.rowcount, 1000)
        finally:
            os.unlink(f.name)
        c.commit()
        cur.execute("SELECT COUNT(*), MAX(a) FROM py_load")
        self.assertEqual(cur.fetchone(), (1000, 999))

    def test_errors(self):
        cur = connect(PROXY).cursor()
        cur.execute("CREATE TABLE IF NOT EXISTS py_dup (id INT PRIMARY KEY)")
        cur.execute("REPLACE INTO py_dup VALUES (1)")
        with self.assertRaises(pymysql.err.IntegrityError) as e:
            cur.execute("INSERT INTO py_dup VALUES (1)")
        self.assertEqual(e.exception.args[0], 1062)
        with self.assertRaises(pymysql.err.OperationalError) as e:
            pymysql.connect(host="127.0.0.1", port=PROXY, user="app", password="wrong")
        self.assertEqual(e.exception.args[0], 1045)


if __name__ == "__main__":
    unittest.main(verbosity=2)
