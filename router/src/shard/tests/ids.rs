//! Generated keys: the id layout, and INSERTs that omit the key getting one per row.

use super::super::IdGenerator;
use super::parts;

#[test]
fn ids_increase_carry_the_node_and_never_repeat() {
    let g = IdGenerator::new(5);
    let t = 1_735_689_600_000 + 1_000;
    let a = g.next_at(t);
    assert_eq!(a, (1_000 << 22) | (5 << 12));
    assert_eq!(g.next_at(t), a + 1);
    // The clock steps back: still increasing.
    assert_eq!(g.next_at(t - 500), a + 2);
    // 4096 in one millisecond: the sequence borrows the next millisecond, never the node bits.
    let mut last = a + 2;
    for _ in 0..5000 {
        let n = g.next_at(t);
        assert!(n > last && (n >> 12) & 0x3ff == 5, "{n:x}");
        last = n;
    }
    assert!(IdGenerator::new(1).next() > 0);
}

#[test]
fn inserts_without_the_key_get_generated_ids() {
    // `users` is mod 2 on uid with generate_key; the test generator counts from 1001.
    assert_eq!(
        parts("INSERT INTO users (name) VALUES ('a'), ('b'), ('c')"),
        [
            (0, "INSERT INTO `shop_0`.`users` (name, `uid`) VALUES ('b', 1002)".to_string()),
            (
                1,
                "INSERT INTO `shop_1`.`users` (name, `uid`) VALUES ('a', LAST_INSERT_ID(1001)), ('c', 1003)"
                    .to_string()
            ),
        ]
    );
    assert_eq!(
        parts("INSERT INTO users (name) VALUES ('x') ON DUPLICATE KEY UPDATE name = 'y'"),
        [(1, "INSERT INTO `shop_1`.`users` (name, `uid`) VALUES ('x', LAST_INSERT_ID(1001)) ON DUPLICATE KEY UPDATE name = 'y'".to_string())]
    );
}
