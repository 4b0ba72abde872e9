//! Rewrites: only the table identifier (quoted, qualified, aliased, as a column qualifier) changes;
//! columns and strings with the same text, and other tables, stay as they are.

use super::parts;

#[test]
fn only_the_table_identifier_is_rewritten() {
    let cases: &[(&str, &str)] = &[
        ("SELECT * FROM documents WHERE id = 4", "SELECT * FROM `documents_0` WHERE id = 4"),
        ("SELECT * FROM `documents` WHERE id = 4", "SELECT * FROM `documents_0` WHERE id = 4"),
        ("SELECT * FROM app.documents WHERE id = 4", "SELECT * FROM app.`documents_0` WHERE id = 4"),
        ("SELECT * FROM Documents AS d WHERE d.id = 4", "SELECT * FROM `documents_0` AS d WHERE d.id = 4"),
        (
            "SELECT documents.documents, 'documents' FROM documents WHERE documents.id = 4",
            "SELECT `documents_0`.documents, 'documents' FROM `documents_0` WHERE `documents_0`.id = 4",
        ),
        (
            "SELECT documents.* FROM documents WHERE id = 4",
            "SELECT `documents_0`.* FROM `documents_0` WHERE id = 4",
        ),
        (
            "SELECT d.title, o.name FROM documents d JOIN owners o ON o.id = d.owner WHERE d.id = 4",
            "SELECT d.title, o.name FROM `documents_0` d JOIN owners o ON o.id = d.owner WHERE d.id = 4",
        ),
        (
            "UPDATE documents SET documents.title = 'documents' WHERE id = 4",
            "UPDATE `documents_0` SET `documents_0`.title = 'documents' WHERE id = 4",
        ),
        ("DELETE FROM documents WHERE id = 4", "DELETE FROM `documents_0` WHERE id = 4"),
        ("SELECT * FROM users WHERE uid = 2", "SELECT * FROM `shop_0`.`users` WHERE uid = 2"),
        ("SELECT * FROM app.users WHERE uid = 3", "SELECT * FROM `shop_1`.`users` WHERE uid = 3"),
        (
            "SELECT /* documents */ title FROM documents -- documents\n WHERE id = 4",
            "SELECT /* documents */ title FROM `documents_0` -- documents\n WHERE id = 4",
        ),
    ];
    for (sql, want) in cases {
        let p = parts(sql);
        assert_eq!(p.len(), 1, "{sql}");
        assert_eq!(p[0].1, *want, "{sql}");
    }
}

#[test]
fn multi_row_insert_is_split_per_shard() {
    let p = parts(
        "INSERT INTO documents (id, title) VALUES (1, 'a'), (2, 'documents'), (4, 'c'), (3, 'd') ON DUPLICATE KEY UPDATE title = VALUES(title)",
    );
    let want = [
        (
            0,
            "INSERT INTO `documents_0` (id, title) VALUES (4, 'c') ON DUPLICATE KEY UPDATE title = VALUES(title)",
        ),
        (
            1,
            "INSERT INTO `documents_1` (id, title) VALUES (2, 'documents') ON DUPLICATE KEY UPDATE title = VALUES(title)",
        ),
        (
            3,
            "INSERT INTO `documents_3` (id, title) VALUES (1, 'a'), (3, 'd') ON DUPLICATE KEY UPDATE title = VALUES(title)",
        ),
    ];
    let want: Vec<(usize, String)> = want.iter().map(|(s, q)| (*s, q.to_string())).collect();
    assert_eq!(p, want);
}

#[test]
fn scatter_limits_ask_each_shard_for_offset_plus_count() {
    let cases: &[(&str, &str)] = &[
        (
            "SELECT id FROM documents ORDER BY id LIMIT 5",
            "SELECT id , WEIGHT_STRING(`id`) FROM `documents_2` ORDER BY id LIMIT 5",
        ),
        (
            "SELECT id FROM documents ORDER BY id LIMIT 10, 5",
            "SELECT id , WEIGHT_STRING(`id`) FROM `documents_2` ORDER BY id LIMIT 15",
        ),
        (
            "SELECT * FROM documents ORDER BY title DESC LIMIT 5 OFFSET 10",
            "SELECT * , WEIGHT_STRING(`title`) FROM `documents_2` ORDER BY title DESC LIMIT 15",
        ),
        ("SELECT id FROM documents LIMIT 5", "SELECT id FROM `documents_2` LIMIT 5"),
        (
            "SELECT owner, COUNT(*) FROM documents GROUP BY owner ORDER BY owner LIMIT 3",
            "SELECT owner, COUNT(*) FROM `documents_2` GROUP BY owner ORDER BY owner ",
        ),
    ];
    for (sql, want) in cases {
        let p = parts(sql);
        assert_eq!(p.len(), 4, "{sql}");
        assert_eq!(p[2].1, *want, "{sql}");
    }
}
