"""pq.py: the few libpq calls the test drivers need, through ctypes.

psycopg2 is not part of the harness's packages; libpq is (psql links it).
Parameters are always sent bound (PQexecParams), as a driver does, which is
what the log-redaction test needs and what keeps the fuzz driver's values
out of its SQL text.
"""
import ctypes
import ctypes.util

_lib = ctypes.CDLL(ctypes.util.find_library("pq") or "libpq.so.5")
_lib.PQconnectdb.restype = ctypes.c_void_p
_lib.PQconnectdb.argtypes = [ctypes.c_char_p]
_lib.PQstatus.argtypes = [ctypes.c_void_p]
_lib.PQerrorMessage.restype = ctypes.c_char_p
_lib.PQerrorMessage.argtypes = [ctypes.c_void_p]
_lib.PQfinish.argtypes = [ctypes.c_void_p]
_lib.PQbackendPID.argtypes = [ctypes.c_void_p]
_lib.PQexecParams.restype = ctypes.c_void_p
_lib.PQexecParams.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p,
                              ctypes.POINTER(ctypes.c_char_p), ctypes.c_void_p, ctypes.c_void_p,
                              ctypes.c_int]
_lib.PQresultStatus.argtypes = [ctypes.c_void_p]
_lib.PQresultErrorField.restype = ctypes.c_char_p
_lib.PQresultErrorField.argtypes = [ctypes.c_void_p, ctypes.c_int]
_lib.PQntuples.argtypes = [ctypes.c_void_p]
_lib.PQnfields.argtypes = [ctypes.c_void_p]
_lib.PQgetvalue.restype = ctypes.c_char_p
_lib.PQgetvalue.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
_lib.PQgetisnull.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
_lib.PQclear.argtypes = [ctypes.c_void_p]
_NoticeProc = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)
_lib.PQsetNoticeProcessor.argtypes = [ctypes.c_void_p, _NoticeProc, ctypes.c_void_p]
_quiet = _NoticeProc(lambda arg, msg: None)

CONNECTION_OK = 0
PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_FATAL_ERROR = 1, 2, 7
PG_DIAG_SQLSTATE = ord("C")
PG_DIAG_MESSAGE_PRIMARY = ord("M")


class Error(Exception):
    def __init__(self, sqlstate, message):
        super().__init__("%s: %s" % (sqlstate, message))
        self.sqlstate, self.message = sqlstate, message


class Connection:
    def __init__(self, conninfo=""):
        self.conn = _lib.PQconnectdb(conninfo.encode())
        if _lib.PQstatus(self.conn) != CONNECTION_OK:
            msg = _lib.PQerrorMessage(self.conn).decode(errors="replace")
            _lib.PQfinish(self.conn)
            self.conn = None
            raise ConnectionError(msg.strip())
        _lib.PQsetNoticeProcessor(self.conn, _quiet, None)
        self.pid = _lib.PQbackendPID(self.conn)

    def ok(self):
        return self.conn is not None and _lib.PQstatus(self.conn) == CONNECTION_OK

    def execute(self, sql, params=()):
        """Rows as lists of str/None; raises Error (sqlstate '' = connection lost)."""
        n = len(params)
        arr = (ctypes.c_char_p * max(n, 1))()
        for i, p in enumerate(params):
            arr[i] = None if p is None else (p if isinstance(p, bytes) else str(p).encode())
        res = _lib.PQexecParams(self.conn, sql.encode(), n, None, arr, None, None, 0)
        try:
            st = _lib.PQresultStatus(res) if res else PGRES_FATAL_ERROR
            if st in (PGRES_COMMAND_OK, PGRES_TUPLES_OK):
                return [[None if _lib.PQgetisnull(res, r, c) else _lib.PQgetvalue(res, r, c).decode(errors="replace")
                         for c in range(_lib.PQnfields(res))] for r in range(_lib.PQntuples(res))]
            code = _lib.PQresultErrorField(res, PG_DIAG_SQLSTATE) if res else None
            msg = _lib.PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) if res else None
            if msg is None:
                msg = _lib.PQerrorMessage(self.conn)
            raise Error((code or b"").decode(), (msg or b"").decode(errors="replace").strip())
        finally:
            if res:
                _lib.PQclear(res)

    def close(self):
        if self.conn:
            _lib.PQfinish(self.conn)
            self.conn = None
