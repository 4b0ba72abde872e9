#!/usr/bin/env python3
"""How mysql_types.txt was made. NOT run by the test suite.

Uses capture.py's raw-socket client against a MySQL 8.4/9.x server (root without a password on
HOST:PORT, default 127.0.0.1:3306) to record MySQL's column types that MariaDB lacks: JSON as MySQL
sends it (MYSQL_TYPE_JSON, 0xf5; MariaDB sends a LONGTEXT BLOB) and VECTOR (0xf2, MySQL 9). Scratch
database `sluice_capture_tmp`, created and dropped again.

  mysql_types.txt  `SELECT * FROM t ORDER BY id` of a table with JSON and VECTOR columns, as a
                   prepared statement (binary rows) and as a COM_QUERY (text rows), then
                   expressions of those types (`literal_*` lines), both ways too

Usage:  python3 protocol/testdata/capture_mysql.py [HOST:PORT] [outdir]
"""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capture  # noqa: E402

CREATE = """CREATE TABLE t (
  id INT PRIMARY KEY, c_json JSON, c_vec VECTOR(3), c_vec100 VECTOR(100)
)"""

# Row 1: ordinary values; row 2: awkward ones (unicode, escapes, an empty object/array, a 400-byte
# vector whose length is a 3-byte lenenc); row 3: NULLs.
ROWS = [
    "(1, '{\"k\": [1, null, true], \"s\": \"x\"}', STRING_TO_VECTOR('[1.5, -2, 3e-5]'),"
    " STRING_TO_VECTOR('[0]'))",
    "(2, '[\"h\u00e9llo\", \"a\\\\\\\\b\", {}, []]', STRING_TO_VECTOR('[0, 0, 0]'),"
    " STRING_TO_VECTOR(CONCAT('[', REPEAT('0.25, ', 99), '1]')))",
    "(3, NULL, NULL, NULL)",
]

LITERALS = (
    "SELECT CAST('{\"a\": 1}' AS JSON), JSON_ARRAY(1, 'x'), STRING_TO_VECTOR('[1, 2]'),"
    " VECTOR_TO_STRING(STRING_TO_VECTOR('[1, 2]')), CAST(NULL AS JSON)"
)


def main():
    host, port = capture.HOST, capture.PORT
    if len(sys.argv) > 1:
        host, _, p = sys.argv[1].rpartition(":")
        port = int(p)
    outdir = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))
    capture.HOST, capture.PORT = host, port
    c = capture.Conn()
    version = c.query("SELECT VERSION()")[1][0][1:].decode()
    c.query("DROP DATABASE IF EXISTS " + capture.DB)
    c.query("CREATE DATABASE " + capture.DB)
    try:
        c.query("USE " + capture.DB)
        c.query(CREATE)
        c.query("INSERT INTO t VALUES " + ", ".join(ROWS))
        sections = []
        for prefix, sql in (("", "SELECT * FROM t ORDER BY id"), ("literal_", LITERALS)):
            text_cols, text_rows = c.query(sql)
            stmt, _ = c.prepare(sql)
            bin_cols, bin_rows = c.execute(b"\x17" + struct.pack("<IBI", stmt, 0, 1))
            sections += [(prefix + "column", bin_cols), (prefix + "binary_row", bin_rows),
                         (prefix + "text_column", text_cols), (prefix + "text_row", text_rows)]
        with open(os.path.join(outdir, "mysql_types.txt"), "w") as f:
            f.write("# Captured by capture_mysql.py from MySQL %s. Do not edit.\n" % version)
            f.write("# SELECT * FROM t ORDER BY id; literal_*: %s\n" % LITERALS)
            for kind, payloads in sections:
                for p in payloads:
                    f.write("%s %s\n" % (kind, p.hex()))
    finally:
        c.query("DROP DATABASE IF EXISTS " + capture.DB)


if __name__ == "__main__":
    main()
