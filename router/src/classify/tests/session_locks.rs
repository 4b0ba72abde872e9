//! Locks and handlers that outlive the statement on its connection: primary, `locks`, uncached, and
//! the typed effect the proxy keeps its books with.

use super::class;
use crate::classify::{SessionLock, Target};

#[test]
fn session_locks_open_use_and_close() {
    use SessionLock::*;
    for (sql, lock) in [
        ("FLUSH TABLES WITH READ LOCK", OpenTables),
        ("FLUSH TABLES t1, t2 WITH READ LOCK", OpenTables),
        ("FLUSH TABLE t1 WITH READ LOCK", OpenTables),
        ("FLUSH NO_WRITE_TO_BINLOG TABLES t1 WITH READ LOCK", OpenTables),
        ("FLUSH TABLES WITH READ LOCK AND DISABLE CHECKPOINT", OpenTables),
        ("FLUSH TABLES t FOR EXPORT", OpenTables),
        ("FLUSH TABLES t1, t2 FOR EXPORT", OpenTables),
        ("LOCK TABLES t WRITE", OpenTables),
        ("LOCK TABLE t READ, u WRITE", OpenTables),
        ("lock tables `my t` read local", OpenTables),
        ("UNLOCK TABLES", CloseTables),
        ("UNLOCK TABLE", CloseTables),
        ("HANDLER t OPEN", OpenHandler),
        ("HANDLER t OPEN AS h", OpenHandler),
        ("HANDLER `my t` OPEN AS `h`", OpenHandler),
        ("HANDLER h READ FIRST", UseHandler),
        ("HANDLER h READ `PRIMARY` = (1)", UseHandler),
        ("HANDLER h READ idx NEXT WHERE a > 1 LIMIT 3", UseHandler),
        ("HANDLER h CLOSE", CloseHandler),
        ("LOCK INSTANCE FOR BACKUP", OpenBackup),
        ("UNLOCK INSTANCE", CloseBackup),
        ("BACKUP STAGE START", OpenBackup),
        ("BACKUP STAGE FLUSH", OpenBackup),
        ("BACKUP STAGE BLOCK_DDL", OpenBackup),
        ("BACKUP STAGE BLOCK_COMMIT", OpenBackup),
        ("BACKUP STAGE END", CloseBackup),
        ("BACKUP LOCK t", OpenBackup),
        ("BACKUP UNLOCK", CloseBackup),
        ("SELECT GET_LOCK('job', 10)", NamedLocks),
        ("SELECT RELEASE_LOCK('job')", NamedLocks),
        ("SELECT RELEASE_ALL_LOCKS()", NamedLocks),
        ("DO GET_LOCK('job', 10)", NamedLocks),
        ("DO RELEASE_LOCK('job')", NamedLocks),
        ("SET @got = GET_LOCK('job', 10)", NamedLocks),
        ("SELECT GET_LOCK('job', 10) INTO @got", NamedLocks),
        ("SELECT id, GET_LOCK(CONCAT('row', id), 0) FROM t WHERE id = 1", NamedLocks),
        ("INSERT INTO t SELECT GET_LOCK('x', 1)", NamedLocks),
    ] {
        let c = class(sql);
        assert_eq!(c.session_lock, Some(lock), "{sql}");
        assert_eq!(c.target, Target::Primary, "{sql}");
        assert!(c.locks && !c.cacheable, "{sql}: {c:?}");
    }
}

#[test]
fn lookalikes_hold_nothing() {
    for sql in [
        "FLUSH TABLES",
        "FLUSH TABLES t",
        "FLUSH LOGS",
        "FLUSH PRIVILEGES",
        "SELECT IS_FREE_LOCK('job')",
        "SELECT db.get_lock('job', 1)",
        "SELECT my_get_lock('job', 1)",
        "SELECT * FROM t WHERE id = 1 FOR UPDATE",
        "SELECT * FROM lock_tables",
        "SELECT 'GET_LOCK(1)'",
        "UPDATE t SET locked = 1",
    ] {
        assert_eq!(class(sql).session_lock, None, "{sql}");
    }
    // Stored functions and IS_FREE_LOCK still run on the primary.
    for sql in ["SELECT IS_FREE_LOCK('job')", "SELECT db.get_lock('job', 1)", "SELECT my_get_lock('job', 1)"]
    {
        assert_eq!(class(sql).target, Target::Primary, "{sql}");
    }
}
