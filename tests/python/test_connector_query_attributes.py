"""mysql-connector-python (pure Python) through sluice, which does not offer CLIENT_QUERY_ATTRIBUTES.
Run by tests/tests/proxy/pymysql.rs with SLUICE_PORT and SCHEMA in the environment (user app/app).

- Without query attributes: no warning, queries work, prepared (binary protocol) ones too.
- With attributes (cursor.add_attribute): the connector warns that the server does not support them
  and sends the query without them; it runs.
- A client that forces the flag anyway sends the attribute block in COM_QUERY: the text is refused
  by the server (ERR 1064) and sluice acts on nothing in it (its own KILL is not run)."""

import os
import unittest
import warnings

import mysql.connector
from mysql.connector.constants import ClientFlag

PORT = int(os.environ["SLUICE_PORT"])
SCHEMA = os.environ["SCHEMA"]


def connect(**kw):
    return mysql.connector.connect(
        host="127.0.0.1", port=PORT, user="app", password="app", database=SCHEMA, use_pure=True, **kw
    )


class QueryAttributes(unittest.TestCase):
    def test_no_warning_and_queries_work(self):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            c = connect()
            cur = c.cursor()
            cur.execute("SELECT 1 + 1, 'x'")
            self.assertEqual(cur.fetchall(), [(2, "x")])
            p = c.cursor(prepared=True)
            p.execute("SELECT ? + 1", (41,))
            self.assertEqual(p.fetchall(), [(42,)])
            c.close()
        self.assertEqual([str(w.message) for w in seen], [])
        self.assertFalse(c._client_flags & ClientFlag.CLIENT_QUERY_ATTRIBUTES)

    def test_attributes_warn_and_the_query_runs_without_them(self):
        c = connect()
        cur = c.cursor()
        cur.add_attribute("trace", "abc")
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            cur.execute("SELECT 7")
            self.assertEqual(cur.fetchall(), [(7,)])
        self.assertTrue(any("Query Attributes" in str(w.message) for w in seen), [str(w.message) for w in seen])
        c.close()

    def test_a_forced_flag_is_refused_by_the_server_and_runs_nothing(self):
        own = connect()
        cur = own.cursor()
        cur.execute("SELECT CONNECTION_ID()")
        (own_id,) = cur.fetchone()
        # The connector sends its first statement (SET NAMES) with the attribute block in front.
        with self.assertRaises(mysql.connector.Error) as e:
            c = connect(client_flags=[ClientFlag.CLIENT_QUERY_ATTRIBUTES])
            c.cmd_query("KILL %d" % own_id)
        self.assertEqual(e.exception.errno, 1064, str(e.exception))
        cur.execute("SELECT 5")
        self.assertEqual(cur.fetchall(), [(5,)])
        own.close()


if __name__ == "__main__":
    unittest.main()
