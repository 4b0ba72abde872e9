#!/usr/bin/env python3
"""How the fixtures in this folder were made. NOT run by the test suite.

Talks the MySQL protocol over a raw socket (no client library: PyMySQL cannot do server-side
prepared statements) to a local MariaDB on 127.0.0.1:3306 as root without a password, in a scratch
database `sluice_capture_tmp` that it creates and drops again. It writes, as hex, the payloads
(without the 4-byte packet header) of:

  all_types.txt   a table with one column of every type: the column definitions and rows of
                  `SELECT * FROM t` run as a prepared statement (binary rows) and as a COM_QUERY
                  (text rows)
  literals.txt    `SELECT NULL, ...` of expressions, whose column types (MYSQL_TYPE_NULL,
                  NEWDECIMAL, LONGLONG ...) a table does not give
  execute.txt     COM_STMT_EXECUTE requests built by hand here (parameters of many types; a second
                  execute reusing the bound types; one with a parameter sent by
                  COM_STMT_SEND_LONG_DATA) that the server accepted, and the binary rows it echoed

Usage:  python3 protocol/testdata/capture.py [outdir]     (default: the folder of this script)
Each line of an output file is `<kind> <hex>`; lines starting with `#` are comments.
"""

import os
import socket
import struct
import sys

HOST, PORT, USER = "127.0.0.1", 3306, b"root"
DB = "sluice_capture_tmp"

# Capability bits (protocol docs): LONG_PASSWORD, PROTOCOL_41, TRANSACTIONS, SECURE_CONNECTION,
# MULTI_RESULTS, PLUGIN_AUTH. No DEPRECATE_EOF: classic EOF-terminated result sets are easier to cut.
CAPS = 0x1 | 0x200 | 0x2000 | 0x8000 | 0x20000 | 0x80000


class Conn:
    def __init__(self):
        self.s = socket.create_connection((HOST, PORT))
        self.seq = 0
        self._handshake()

    def _read_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise EOFError("server closed the connection")
            buf += chunk
        return buf

    def read(self):
        payload = b""
        while True:
            hdr = self._read_exact(4)
            n = hdr[0] | hdr[1] << 8 | hdr[2] << 16
            self.seq = (hdr[3] + 1) & 0xFF
            payload += self._read_exact(n)
            if n < 0xFFFFFF:
                return payload

    def write(self, payload):
        assert len(payload) < 0xFFFFFF
        self.s.sendall(struct.pack("<I", len(payload))[:3] + bytes([self.seq]) + payload)
        self.seq = (self.seq + 1) & 0xFF

    def command(self, payload):
        self.seq = 0
        self.write(payload)

    def _handshake(self):
        greeting = self.read()
        assert greeting[0] == 10, "expected HandshakeV10"
        # An empty password answers every scramble with an empty response, so it is not parsed.
        resp = struct.pack("<IIB", CAPS, 1 << 24, 45) + b"\0" * 23
        resp += USER + b"\0" + b"\0" + b"mysql_native_password\0"
        self.write(resp)
        reply = self.read()
        if reply[0] == 0xFE:  # AuthSwitchRequest: an empty password is an empty response again
            self.write(b"")
            reply = self.read()
        check_ok(reply)

    def query(self, sql):
        """COM_QUERY; returns (column payloads, row payloads) or None for an OK."""
        self.command(b"\x03" + sql.encode())
        return self._result_set()

    def _result_set(self):
        first = self.read()
        if first[0] == 0x00:
            return None
        if first[0] == 0xFF:
            raise RuntimeError(err_text(first))
        ncols = lenenc(first, 0)[0]
        cols = [self.read() for _ in range(ncols)]
        assert is_eof(self.read())
        rows = []
        while True:
            p = self.read()
            if is_eof(p):
                return cols, rows
            if p[0] == 0xFF:
                raise RuntimeError(err_text(p))
            rows.append(p)

    def prepare(self, sql):
        """COM_STMT_PREPARE; returns (statement id, number of parameters)."""
        self.command(b"\x16" + sql.encode())
        p = self.read()
        if p[0] == 0xFF:
            raise RuntimeError(err_text(p))
        stmt_id, ncols, nparams = struct.unpack_from("<IHH", p, 1)
        for n in (nparams, ncols):
            if n:
                for _ in range(n):
                    self.read()
                assert is_eof(self.read())
        return stmt_id, nparams

    def execute(self, payload):
        """Sends a COM_STMT_EXECUTE payload; returns (column payloads, binary row payloads)."""
        self.command(payload)
        return self._result_set()


def lenenc(b, i):
    c = b[i]
    if c < 0xFB:
        return c, i + 1
    if c == 0xFC:
        return struct.unpack_from("<H", b, i + 1)[0], i + 3
    if c == 0xFD:
        return int.from_bytes(b[i + 1 : i + 4], "little"), i + 4
    if c == 0xFE:
        return struct.unpack_from("<Q", b, i + 1)[0], i + 9
    raise ValueError("bad lenenc")


def put_lenenc(n):
    if n < 0xFB:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfc" + struct.pack("<H", n)
    if n <= 0xFFFFFF:
        return b"\xfd" + n.to_bytes(3, "little")
    return b"\xfe" + struct.pack("<Q", n)


def lenenc_str(b):
    return put_lenenc(len(b)) + b


def is_eof(p):
    return p[0] == 0xFE and len(p) < 9


def err_text(p):
    return "server error %d: %s" % (struct.unpack_from("<H", p, 1)[0], p[9:].decode(errors="replace"))


def check_ok(p):
    if p[0] != 0x00:
        raise RuntimeError(err_text(p) if p[0] == 0xFF else "unexpected reply %r" % p[:16])


CREATE = """CREATE TABLE t (
  id INT PRIMARY KEY,
  c_tiny TINYINT, c_utiny TINYINT UNSIGNED, c_small SMALLINT, c_usmall SMALLINT UNSIGNED,
  c_med MEDIUMINT, c_umed MEDIUMINT UNSIGNED, c_int INT, c_uint INT UNSIGNED,
  c_big BIGINT, c_ubig BIGINT UNSIGNED, c_float FLOAT, c_double DOUBLE, c_dec DECIMAL(20,6),
  c_date DATE, c_dt DATETIME(6), c_ts TIMESTAMP(6) NULL DEFAULT NULL, c_time TIME(6), c_year YEAR,
  c_char CHAR(10), c_varchar VARCHAR(50), c_text TEXT, c_blob BLOB, c_varbin VARBINARY(16),
  c_bit BIT(12), c_enum ENUM('a','b','c'), c_set SET('x','y','z'), c_json JSON, c_geom GEOMETRY
)"""

# Row 1: minimums and awkward strings; row 2: maximums; row 3: all NULL; row 4: zero values.
ROWS = [
    "(1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,"
    " -1.5, -2.25e-300, -12345678901234.123456, '1000-01-01', '1000-01-01 00:00:00.000001',"
    " '1970-01-02 00:00:00.500000', '-838:59:59.000000', 1901, 'a', 'it''s \\\\ \"q\"',"
    " 'h\u00e9llo \\n', X'00FF10', X'DEADBEEF', b'101', 'b', 'x,z', '{\"k\": [1, null]}',"
    " ST_GeomFromText('POINT(1 2)'))",
    "(2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295,"
    " 9223372036854775807, 18446744073709551615, 3.4e38, 1.7976931348623157e308,"
    " 99999999999999.999999, '9999-12-31', '9999-12-31 23:59:59.999999',"
    " '2038-01-19 03:14:07.999999', '838:59:59.000000', 2155, 'zzzzzzzzzz', REPEAT('v', 50),"
    " REPEAT('t', 300), REPEAT(X'AB', 300), X'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF', b'111111111111',"
    " 'c', 'x,y,z', '[]', ST_GeomFromText('LINESTRING(0 0,1 1,2 2)'))",
    "(3" + ", NULL" * 28 + ")",
    "(4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '0000-00-00', '0000-00-00 00:00:00',"
    " '1970-01-01 00:00:01', '-00:00:00.500000', 0, '', '', '', '', '', b'0', '', '', '\"\"',"
    " ST_GeomFromText('POINT(0 0)'))",
]

LITERALS = (
    "SELECT NULL, 1, -1, 18446744073709551615, 1.5, 1.5e0, CAST(2 AS UNSIGNED), 'str',"
    " X'FF', CAST('2024-02-29 12:34:56.789' AS DATETIME(3)), CAST('2024-02-29' AS DATE),"
    " CAST('-1 02:03:04' AS TIME), CAST(1 AS FLOAT), CAST(b'1' AS UNSIGNED)"
)

# Parameter markers for execute.txt: (type byte, unsigned, value bytes or None for NULL).
PARAM_SQL = "SELECT " + ", ".join(["?"] * 14)


def param_values():
    dt = struct.pack("<BHBBBBBI", 11, 2024, 2, 29, 13, 14, 15, 123456)
    date = struct.pack("<BHBB", 4, 1999, 12, 31)
    neg_time = struct.pack("<BBIBBBI", 12, 1, 1, 2, 3, 4, 500000)
    return [
        (0x01, False, struct.pack("<b", -5)),              # TINY
        (0x02, True, struct.pack("<H", 65535)),            # SHORT unsigned
        (0x03, False, struct.pack("<i", -100000)),         # LONG
        (0x08, True, struct.pack("<Q", 2**64 - 1)),        # LONGLONG unsigned
        (0x08, False, struct.pack("<q", -(2**63))),        # LONGLONG
        (0x05, False, struct.pack("<d", 0.1)),             # DOUBLE
        (0x04, False, struct.pack("<f", 2.5)),             # FLOAT
        (0xFD, False, lenenc_str("héllo'\\".encode())),   # VAR_STRING, UTF-8 and escapes
        (0xFC, False, lenenc_str(b"\x00\xff\x80")),        # BLOB, not UTF-8
        (0x0C, False, dt),                                 # DATETIME with micros
        (0x0A, False, date),                               # DATE
        (0x0B, False, neg_time),                           # TIME, negative, 1 day
        (0x06, False, None),                               # NULL
        (0xF6, False, lenenc_str(b"-12.50")),              # NEWDECIMAL as text
    ]


def execute_payload(stmt_id, params, bind_types=True, long_data=()):
    out = b"\x17" + struct.pack("<IBI", stmt_id, 0, 1)
    bitmap = bytearray((len(params) + 7) // 8)
    for i, (_, _, v) in enumerate(params):
        if v is None and i not in long_data:
            bitmap[i // 8] |= 1 << (i % 8)
    out += bytes(bitmap) + (b"\x01" if bind_types else b"\x00")
    if bind_types:
        for t, unsigned, _ in params:
            out += bytes([t, 0x80 if unsigned else 0])
    for i, (_, _, v) in enumerate(params):
        if v is not None and i not in long_data:
            out += v
    return out


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    c = Conn()
    c.query("DROP DATABASE IF EXISTS " + DB)
    c.query("CREATE DATABASE " + DB)
    try:
        c.query("USE " + DB)
        c.query("SET time_zone = '+00:00', sql_mode = ''")  # '' allows the zero dates of row 4
        c.query(CREATE)
        c.query("INSERT INTO t VALUES " + ", ".join(ROWS))
        sel = "SELECT * FROM t ORDER BY id"
        text_cols, text_rows = c.query(sel)
        stmt, _ = c.prepare(sel)
        bin_cols, bin_rows = c.execute(b"\x17" + struct.pack("<IBI", stmt, 0, 1))
        write(outdir, "all_types.txt", sel, [("column", bin_cols), ("binary_row", bin_rows),
                                              ("text_column", text_cols), ("text_row", text_rows)])

        text_cols, text_rows = c.query(LITERALS)
        stmt, _ = c.prepare(LITERALS)
        bin_cols, bin_rows = c.execute(b"\x17" + struct.pack("<IBI", stmt, 0, 1))
        write(outdir, "literals.txt", LITERALS, [("column", bin_cols), ("binary_row", bin_rows),
                                                 ("text_column", text_cols), ("text_row", text_rows)])

        stmt, nparams = c.prepare(PARAM_SQL)
        params = param_values()
        assert nparams == len(params)
        first = execute_payload(stmt, params)
        cols, rows = c.execute(first)
        again = execute_payload(stmt, params, bind_types=False)
        cols2, rows2 = c.execute(again)
        assert rows2 == rows, "re-executing with the bound types must echo the same row"
        # COM_STMT_SEND_LONG_DATA for parameter 7 (the VAR_STRING); the server sends no reply.
        long_data = b"\x18" + struct.pack("<IH", stmt, 7) + b"long "
        c.command(long_data)
        c.command(b"\x18" + struct.pack("<IH", stmt, 7) + b"data")
        with_long = execute_payload(stmt, params, long_data=(7,))
        cols3, rows3 = c.execute(with_long)
        write(outdir, "execute.txt", PARAM_SQL, [
            ("execute", [first]), ("response_column", cols), ("response_row", rows),
            ("execute_rebound", [again]), ("response_row_rebound", rows2),
            ("long_data", [long_data]), ("execute_long_data", [with_long]),
            ("response_row_long_data", rows3),
        ])
    finally:
        c.query("DROP DATABASE IF EXISTS " + DB)


def write(outdir, name, sql, sections):
    with open(os.path.join(outdir, name), "w") as f:
        f.write("# Captured by capture.py from MariaDB on 127.0.0.1:3306. Do not edit.\n")
        f.write("# " + sql.replace("\n", " ") + "\n")
        for kind, payloads in sections:
            for p in payloads:
                f.write("%s %s\n" % (kind, p.hex()))


if __name__ == "__main__":
    main()
