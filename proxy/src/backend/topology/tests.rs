//! Routing views built from health checks, and member ids across groups.

use super::*;
use crate::backend::monitor::MemberHealth;
use crate::core::config::Role;

#[test]
fn replicas_still_applying_serve_reads_while_the_primary_is_down() {
    let text = "[[groups]]\nname = \"main\"\n[[groups.members]]\naddress = \"127.0.0.1:1\"\nrole = \"primary\"\n[[groups.members]]\naddress = \"127.0.0.1:2\"\nrole = \"replica\"\n[[groups.members]]\naddress = \"127.0.0.1:3\"\nrole = \"replica\"\n[[groups.members]]\naddress = \"127.0.0.1:4\"\nrole = \"replica\"\n";
    let config = Config::parse(text, "t.toml").expect("parses");
    let group = Group::from_config(&config, 0, &config.groups[0]);
    let member = |address: &str, role, healthy, applying| MemberHealth {
        address: address.into(),
        configured_role: role,
        healthy,
        read_only: Some(role == Role::Replica),
        replicating: role == Role::Replica,
        lag_ms: None,
        applying,
        reconnecting: false,
        gtid: None,
        flavor: None,
        error: None,
        check_time: std::time::Duration::ZERO,
    };
    let lags = |primary_healthy| {
        let mut health = [
            member("127.0.0.1:1", Role::Primary, primary_healthy, false),
            member("127.0.0.1:2", Role::Replica, true, true),
            member("127.0.0.1:3", Role::Replica, true, false),
            member("127.0.0.1:4", Role::Replica, true, true),
        ];
        // Reconnecting for a minute: the monitor's estimate is past any max lag.
        health[3].reconnecting = true;
        health[3].lag_ms = Some(60_000);
        let snap = RouteSnapshot::build(&group, &health, &config);
        snap.topo.replicas.iter().map(|r| r.lag_ms).collect::<Vec<_>>()
    };
    // Primary down: replicas whose SQL thread runs serve reads, the stopped one does not.
    assert_eq!(lags(false), vec![Some(0), None, Some(0)]);
    // Primary up: NULL lag (IO or SQL thread stopped) takes a replica out; the estimate stands.
    assert_eq!(lags(true), vec![None, None, Some(60_000)]);
}

#[test]
fn groups_name_members_by_group_and_slot() {
    let text = "[[groups]]\nname = \"main\"\n[[groups.members]]\naddress = \"127.0.0.1:1\"\nrole = \"replica\"\n[[groups.members]]\naddress = \"127.0.0.1:2\"\nrole = \"primary\"\n[[groups]]\nname = \"s1\"\n[[groups.members]]\naddress = \"127.0.0.1:3\"\nrole = \"primary\"\n";
    let config = Config::parse(text, "t.toml").expect("parses");
    let groups = Groups::from_config(&config).expect("has groups");
    assert_eq!(groups.default_group().name, "main");
    assert_eq!(groups.iter().map(|g| (g.id, g.name.as_str())).collect::<Vec<_>>(), [(0, "main"), (1, "s1")]);
    // Slot 0 of each group is a different server; the routing views name their own group.
    let addr = |id| groups.member(id).map(|m| m.addr.address.clone());
    assert_eq!(addr(MemberId::new(0, 0)).as_deref(), Some("127.0.0.1:1"));
    assert_eq!(addr(MemberId::new(1, 0)).as_deref(), Some("127.0.0.1:3"));
    assert_eq!(addr(MemberId::new(1, 1)), None);
    assert_eq!(addr(MemberId::new(2, 0)), None);
    assert_eq!(groups.default_group().routing().primary, Some(MemberId::new(0, 1)));
    assert_eq!(groups.by_name("s1").and_then(|g| g.routing().primary), Some(MemberId::new(1, 0)));
    assert_eq!(groups.get(1).map(|g| g.routing().member_id(4)), Some(MemberId::new(1, 4)));
}
