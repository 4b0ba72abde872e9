//! Routing decisions by topic: sessions, replica health and lag, balancing.

use super::*;
use crate::classify::classify;
use crate::lexer::lex;

fn replica(index: usize, lag_ms: Option<u64>) -> ReplicaView {
    ReplicaView { index, healthy: true, lag_ms, weight: 1, in_use: 0, offline: false }
}

fn topo(replicas: Vec<ReplicaView>) -> Topology {
    Topology { replicas, max_lag_ms: 1000, balance: Balance::RoundRobin }
}

fn route_sql(sql: &str, s: SessionView, t: &Topology, turn: u64) -> Route {
    route_with(sql, s, t, &Policy::default(), turn)
}

fn route_with(sql: &str, session: SessionView, t: &Topology, policy: &Policy, turn: u64) -> Route {
    let class = classify(&lex(sql.as_bytes()));
    route(&Request { class: &class, session, backend_hint: None }, t, policy, || turn)
}

#[test]
fn reads_spread_over_healthy_replicas_writes_go_to_the_primary() {
    let t = topo(vec![replica(1, Some(0)), replica(2, Some(10))]);
    let s = SessionView::autocommit();
    let picks: Vec<Destination> =
        (0..4).map(|n| route_sql("SELECT a FROM t WHERE id = 1", s, &t, n).destination).collect();
    assert_eq!(
        picks,
        [Destination::Replica(1), Destination::Replica(2), Destination::Replica(1), Destination::Replica(2)]
    );
    assert_eq!(route_sql("UPDATE t SET a = 1", s, &t, 0).destination, Destination::Primary);
    assert_eq!(route_sql("SELECT a FROM t FOR UPDATE", s, &t, 0).destination, Destination::Primary);
    assert!(route_sql("SELECT a FROM t WHERE id = 1", s, &t, 0).cacheable);
}

#[test]
fn lagging_down_or_offline_replicas_are_skipped_then_the_primary_serves() {
    let mut down = replica(1, Some(0));
    down.healthy = false;
    let mut off = replica(3, Some(0));
    off.offline = true;
    let t = topo(vec![down, replica(2, Some(5000)), off, replica(4, None)]);
    let r = route_sql("SELECT a FROM t", SessionView::autocommit(), &t, 0);
    assert_eq!(r.destination, Destination::Primary);
    assert!(r.reason.as_str().contains("no healthy replica"));
    let t = topo(vec![down, replica(2, Some(999))]);
    assert_eq!(
        route_sql("SELECT a FROM t", SessionView::autocommit(), &t, 7).destination,
        Destination::Replica(2)
    );
}

#[test]
fn transactions_autocommit_off_and_pins_keep_reads_on_the_session_connection() {
    let t = topo(vec![replica(1, Some(0))]);
    let tx = SessionView { in_transaction: true, ..SessionView::autocommit() };
    assert_eq!(route_sql("SELECT a FROM t", tx, &t, 0).destination, Destination::Primary);
    let no_ac = SessionView { autocommit: false, ..SessionView::default() };
    let r = route_sql("SELECT a FROM t", no_ac, &t, 0);
    assert_eq!((r.destination, r.cacheable), (Destination::Primary, false));
    let pinned = SessionView { pinned: true, ..SessionView::autocommit() };
    assert_eq!(route_sql("SELECT a FROM t", pinned, &t, 0).destination, Destination::Pinned);
}

#[test]
fn last_and_sluice_targets() {
    let t = topo(vec![replica(1, Some(0))]);
    let s = SessionView { has_last: true, ..SessionView::autocommit() };
    assert_eq!(route_sql("SELECT LAST_INSERT_ID()", s, &t, 0).destination, Destination::Last);
    assert_eq!(
        route_sql("SELECT LAST_INSERT_ID()", SessionView::autocommit(), &t, 0).destination,
        Destination::Primary
    );
    assert_eq!(route_sql("SELECT CONNECTION_ID()", s, &t, 0).destination, Destination::Sluice);
    assert_eq!(route_sql("KILL QUERY 42", s, &t, 0).destination, Destination::Sluice);
}

#[test]
fn weighted_and_least_connections() {
    let mut a = replica(1, Some(0));
    a.weight = 3;
    let b = replica(2, Some(0));
    let t = Topology { balance: Balance::Weighted, ..topo(vec![a, b]) };
    let picks: Vec<Option<usize>> = (0..8).map(|n| pick_replica(&t, n)).collect();
    assert_eq!(picks.iter().filter(|p| **p == Some(1)).count(), 6);
    assert_eq!(picks.iter().filter(|p| **p == Some(2)).count(), 2);
    let mut busy = replica(1, Some(0));
    busy.in_use = 9;
    let mut idle = replica(2, Some(0));
    idle.in_use = 2;
    let t = Topology { balance: Balance::LeastConnections, ..topo(vec![busy, idle]) };
    assert_eq!(pick_replica(&t, 0), Some(2));
    assert_eq!(pick_replica(&topo(vec![]), 3), None);
}

#[test]
fn least_connections_picks_the_least_loaded_usable_replica_and_rotates_ties() {
    let with = |index: usize, in_use: u32| ReplicaView { in_use, ..replica(index, Some(0)) };
    let mut down = with(5, 0);
    down.healthy = false;
    let mut off = with(6, 0);
    off.offline = true;
    let lagging = with(7, 0);
    let lagging = ReplicaView { lag_ms: Some(5000), ..lagging };
    let unknown_lag = ReplicaView { lag_ms: None, ..with(8, 0) };
    let zero_weight = ReplicaView { weight: 0, ..with(9, 0) };
    let lc = |replicas: Vec<ReplicaView>| Topology { balance: Balance::LeastConnections, ..topo(replicas) };
    // (replicas, picks for turns 0..4)
    let cases: Vec<(Vec<ReplicaView>, [Option<usize>; 4])> = vec![
        (vec![with(1, 9), with(2, 2)], [Some(2); 4]),
        (vec![with(1, 2), with(2, 9)], [Some(1); 4]),
        (vec![with(1, 3), with(2, 1), with(3, 1)], [Some(2), Some(3), Some(2), Some(3)]),
        (vec![with(1, 0), with(2, 0), with(3, 0)], [Some(1), Some(2), Some(3), Some(1)]),
        // Unusable replicas never win, however idle.
        (vec![down, off, lagging, unknown_lag, zero_weight, with(1, 50)], [Some(1); 4]),
        (vec![down, with(1, 4), off, with(2, 4)], [Some(1), Some(2), Some(1), Some(2)]),
        (vec![down, off, lagging], [None; 4]),
        (vec![], [None; 4]),
    ];
    for (replicas, want) in cases {
        let t = lc(replicas.clone());
        let got: Vec<Option<usize>> = (0..4).map(|turn| pick_replica(&t, turn)).collect();
        assert_eq!(got, want, "{replicas:?}");
    }
    // A huge turn does not overflow or skip.
    assert_eq!(pick_replica(&lc(vec![with(1, 0), with(2, 0)]), u64::MAX), Some(2));
    // Through route(): reads follow the pick, writes ignore it.
    let t = lc(vec![with(1, 7), with(2, 1)]);
    let s = SessionView::autocommit();
    assert_eq!(route_sql("SELECT a FROM t WHERE id = 1", s, &t, 0).destination, Destination::Replica(2));
    assert_eq!(route_sql("DELETE FROM t", s, &t, 0).destination, Destination::Primary);
}

/// The whole decision, table-driven: statement, session, policy → destination and reason.
#[test]
fn one_decision_for_hints_read_only_transactions_read_your_writes_and_fallback() {
    use std::time::Duration;
    let up = topo(vec![replica(1, Some(0))]);
    let none = topo(vec![]);
    let ac = SessionView::autocommit();
    let wrote = |age_ms, gtid_known| SessionView {
        last_write: Some(LastWrite { age: Duration::from_millis(age_ms), gtid_known }),
        ..SessionView::autocommit()
    };
    let window = Policy {
        read_your_writes: ReadYourWrites::PrimaryWindow(Duration::from_millis(500)),
        ..Policy::default()
    };
    let split_off = Policy { read_write_split: false, ..Policy::default() };
    let refuse = Policy { refuse_without_replica: true, ..Policy::default() };
    let p = Policy::default();
    let r1 = Destination::Replica(1);
    let cases: Vec<(&str, SessionView, &Topology, &Policy, Destination, Reason)> = vec![
        ("SELECT a FROM t", ac, &up, &p, r1, Reason::Read),
        ("START TRANSACTION READ ONLY", ac, &up, &p, r1, Reason::ReadOnlyTransaction),
        ("START TRANSACTION READ WRITE", ac, &up, &p, Destination::Primary, Reason::WriteOrLocking),
        (
            "START TRANSACTION READ ONLY",
            SessionView { autocommit: false, ..ac },
            &up,
            &p,
            Destination::Primary,
            Reason::InTransaction,
        ),
        (
            "START TRANSACTION READ ONLY",
            ac,
            &up,
            &split_off,
            Destination::Primary,
            Reason::ReadOnlyTransaction,
        ),
        ("SELECT a FROM t", ac, &up, &split_off, Destination::Primary, Reason::SplitOff),
        // A server-specific SHOW goes to the primary unless a hint says a replica will do.
        ("SHOW SLAVE STATUS", ac, &up, &p, Destination::Primary, Reason::WriteOrLocking),
        ("/* sluice: replica */ SHOW SLAVE STATUS", ac, &up, &p, r1, Reason::ReplicaHint),
        ("/* sluice: replica */ SELECT a FROM t", wrote(10, false), &up, &p, r1, Reason::ReplicaHint),
        // A hint never moves a write, a locking read or a statement that binds session state.
        (
            "/* sluice: replica */ UPDATE t SET a = 1",
            ac,
            &up,
            &p,
            Destination::Primary,
            Reason::WriteOrLocking,
        ),
        (
            "/* sluice: replica */ SELECT a FROM t FOR UPDATE",
            ac,
            &up,
            &p,
            Destination::Primary,
            Reason::WriteOrLocking,
        ),
        (
            "/* sluice: replica */ SELECT @x := a FROM t",
            ac,
            &up,
            &p,
            Destination::Primary,
            Reason::WriteOrLocking,
        ),
        // Read-your-writes.
        (
            "SELECT a FROM t",
            wrote(10, false),
            &up,
            &p,
            Destination::Primary,
            Reason::ReadYourWritesGtidUnknown,
        ),
        ("SELECT a FROM t", wrote(5000, false), &up, &p, r1, Reason::Read),
        ("SELECT a FROM t", wrote(10, true), &up, &p, r1, Reason::Read),
        (
            "SELECT a FROM t",
            wrote(10, true),
            &up,
            &window,
            Destination::Primary,
            Reason::ReadYourWritesWindow,
        ),
        ("SELECT a FROM t", wrote(900, true), &up, &window, r1, Reason::Read),
        // No replica: the primary, or a refusal.
        ("SELECT a FROM t", ac, &none, &p, Destination::Primary, Reason::NoReplica),
        ("SELECT a FROM t", ac, &none, &refuse, Destination::Unavailable, Reason::NoReplica),
        ("UPDATE t SET a = 1", ac, &none, &refuse, Destination::Primary, Reason::WriteOrLocking),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .filter_map(|(sql, s, t, policy, dest, reason)| {
            let r = route_with(sql, *s, t, policy, 0);
            ((r.destination, r.reason) != (*dest, *reason)).then(|| {
                format!("{sql} ({s:?}): {:?} {:?}, want {dest:?} {reason:?}", r.destination, r.reason)
            })
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_backend_hint_wins_unless_the_session_is_pinned() {
    let t = topo(vec![replica(1, Some(0))]);
    let class = classify(&lex(b"UPDATE t SET a = 1"));
    let req = |session| Request { class: &class, session, backend_hint: Some(2) };
    let r = route(&req(SessionView::autocommit()), &t, &Policy::default(), || 0);
    assert_eq!((r.destination, r.reason), (Destination::Member(2), Reason::BackendHint));
    let pinned = SessionView { pinned: true, ..SessionView::autocommit() };
    assert_eq!(route(&req(pinned), &t, &Policy::default(), || 0).destination, Destination::Pinned);
}
