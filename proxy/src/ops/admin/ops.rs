//! Admin `SHOW CONFIG`, `SHOW ADVICE`, `EXPLAIN DIGEST <id>`, `RELOAD` and `SWITCHOVER`.

use super::{Answer, text};
use crate::core::error::Error;
use crate::frontend::state::Shared;

/// Keys whose values are never shown (password hashes; passwords themselves are never in the config).
const HIDDEN: [&str; 2] = ["mysql_native_password", "caching_sha2_password"];

/// `SHOW CONFIG`: the running config as `key | value` rows (TOML key paths), hashes hidden, a Redis
/// URL's password masked.
pub(super) fn show_config(shared: &Shared) -> Answer {
    let mut rows = Vec::new();
    if let Some(p) = shared.config_path() {
        rows.push(vec![text("config_file"), text(p.display())]);
    }
    let value = toml::Value::try_from(&**shared.config()).unwrap_or(toml::Value::Table(Default::default()));
    flatten("", &value, &mut rows);
    Answer::Rows(vec!["key", "value"], rows)
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<Vec<Option<bytes::Bytes>>>) {
    let leaf = prefix.rsplit(['.', ']']).next().unwrap_or(prefix);
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        toml::Value::Array(a) if a.iter().any(|x| matches!(x, toml::Value::Table(_))) => {
            for (i, x) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), x, out);
            }
        }
        _ if HIDDEN.contains(&leaf) => out.push(vec![text(prefix), text("<hidden>")]),
        toml::Value::String(s) if leaf == "redis_url" => {
            out.push(vec![text(prefix), text(crate::core::config::redact_url(s))])
        }
        toml::Value::String(s) => out.push(vec![text(prefix), text(s)]),
        other => out.push(vec![text(prefix), text(other)]),
    }
}

/// `redis://user:secret@host` → `redis://user:***@host`.
/// `SHOW ADVICE`: one row per finding.
pub(super) fn show_advice(shared: &Shared) -> Answer {
    let findings = shared.advice.findings(&shared.digests.snapshot());
    let rows = findings
        .into_iter()
        .map(|f| {
            vec![
                text(f.kind.as_str()),
                text(&f.digest),
                text(&f.digest_text),
                text(&f.user),
                text(&f.schema),
                f.session.map(|s| bytes::Bytes::from(s.to_string())),
                text(f.count),
                text(&f.evidence),
                text(&f.suggestion),
            ]
        })
        .collect();
    Answer::Rows(
        vec!["kind", "digest", "digest_text", "user", "schema", "session", "count", "evidence", "suggestion"],
        rows,
    )
}

/// `RELOAD`: the config file again; an invalid file is an ERR with every problem, and nothing changes.
pub(super) fn reload(shared: &Shared) -> Result<Answer, Error> {
    match shared.reload() {
        Ok(report) => {
            let rows = report.into_iter().map(|(what, change)| vec![text(what), text(change)]).collect();
            Ok(Answer::Rows(vec!["what", "change"], rows))
        }
        Err(why) => {
            tracing::warn!(error = %why, "config reload rejected; the running config stays");
            Err(Error::reply(
                (1105, "HY000"),
                format!(
                    "config reload rejected, the running config stays: {}",
                    why.to_string().replace('\n', "; ")
                ),
            ))
        }
    }
}

/// `SWITCHOVER [TO '<host:port>']`: one row describing what happened (switchover.rs does it).
pub(super) async fn switchover(shared: &Shared, to: Option<&str>) -> Result<Answer, Error> {
    let r = crate::ops::switchover::run(shared, to).await?;
    let notes = if r.notes.is_empty() { "ok".to_owned() } else { r.notes.join("; ") };
    Ok(Answer::Rows(
        vec![
            "group",
            "old_primary",
            "new_primary",
            "gtid",
            "waited_for",
            "drain_ms",
            "writes_held_ms",
            "notes",
        ],
        vec![vec![
            text(&r.group),
            text(&r.old_primary),
            text(&r.new_primary),
            text(&r.gtid),
            text(r.waited_for),
            text(r.drain_ms),
            text(r.writes_held_ms),
            text(notes),
        ]],
    ))
}

fn admin_err(msg: impl Into<String>) -> Error {
    Error::reply((1105, "HY000"), msg.into())
}

/// `EXPLAIN DIGEST <id>`: EXPLAIN of the digest's last sample statement, run on a replica (the
/// primary when none is healthy) as the digest's user's backend account, in its schema. Each plan row
/// is flagged when it is a full scan (`type=ALL`) or sorts (`Using filesort`).
pub(super) async fn explain_digest(shared: &Shared, digest: u64) -> Result<Answer, Error> {
    let id = format!("{digest:016x}");
    let mut entries: Vec<_> = shared.digests.snapshot().into_iter().filter(|d| d.digest == digest).collect();
    if entries.is_empty() {
        return Err(admin_err(format!("no digest {id} in the digest table; SHOW DIGESTS lists them")));
    }
    entries.sort_by_key(|d| std::cmp::Reverse(d.last_seen));
    let Some(d) = entries.iter().find(|d| !d.sample.is_empty()) else {
        return Err(admin_err(format!(
            "digest {id} has no statement text to explain (it only ran as a prepared statement); run it once as a plain query"
        )));
    };
    if d.sample_truncated {
        return Err(admin_err(format!(
            "digest {id}'s last statement is longer than {} bytes and was not kept whole; EXPLAIN it by hand",
            crate::features::stats::SAMPLE_MAX
        )));
    }
    let lexed = sluice_router::lexer::lex(d.sample.as_bytes());
    if lexed.statements.len() > 1 {
        return Err(admin_err("the sample holds several statements; EXPLAIN them one by one by hand"));
    }
    if !matches!(lexed.first_keyword.as_str(), "select" | "with" | "update" | "delete" | "insert" | "replace")
    {
        return Err(admin_err(format!(
            "EXPLAIN DIGEST explains SELECT, UPDATE, DELETE, INSERT and REPLACE; digest {id} is a {} statement",
            lexed.first_keyword.to_uppercase()
        )));
    }
    let Some(user) = shared.users.get(d.user.as_bytes()) else {
        return Err(admin_err(format!("user {:?} of digest {id} is no longer configured", d.user)));
    };
    let snap = shared.group().routing();
    let turn = shared.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let member = sluice_router::route::pick_replica(&snap.topo, turn)
        .map(|i| snap.member_id(i))
        .or(snap.primary)
        .ok_or_else(|| admin_err("no healthy backend to run EXPLAIN on"))?;
    let addr = shared.member(member).ok_or_else(|| admin_err("no healthy backend to run EXPLAIN on"))?;
    let pool = shared.pool_for(&addr, &user.backend_user, &user.backend_password, false, 45);
    // The guard is dropped without release_clean: the connection is reset (schema) before reuse.
    let mut guard = pool.get().await?;
    let conn = guard.conn();
    if !d.schema.is_empty() {
        conn.query(&addr.label, &format!("USE `{}`", d.schema.replace('`', "``"))).await?;
    }
    // MySQL 8.3+ explains as a TREE by default (one `EXPLAIN` column): the table form is asked for.
    let explain = match conn.flavor {
        crate::backend::Flavor::MariaDb => "EXPLAIN",
        crate::backend::Flavor::MySql => "EXPLAIN FORMAT=TRADITIONAL",
    };
    let plan = conn.query(&addr.label, &format!("{explain} {}", d.sample)).await?;
    drop(guard);
    let names =
        ["id", "select_type", "table", "type", "possible_keys", "key", "key_len", "ref", "rows", "Extra"];
    let rows = (0..plan.rows.len())
        .map(|r| {
            let mut flags = Vec::new();
            if plan.get(r, "type").as_deref() == Some("ALL") {
                flags.push("full table scan (type=ALL): add an index on the filtered columns");
            }
            if plan.get(r, "Extra").is_some_and(|e| e.contains("Using filesort")) {
                flags.push("Using filesort: an index in ORDER BY order avoids the sort");
            }
            let mut row: Vec<_> = names.iter().map(|n| plan.get(r, n).map(bytes::Bytes::from)).collect();
            row.push(text(flags.join("; ")));
            row.push(text(&addr.label));
            row.push(text(&d.sample));
            row
        })
        .collect();
    Ok(Answer::Rows(
        vec![
            "id",
            "select_type",
            "table",
            "type",
            "possible_keys",
            "key",
            "key_len",
            "ref",
            "rows",
            "Extra",
            "warning",
            "ran_on",
            "statement",
        ],
        rows,
    ))
}

#[cfg(test)]
mod tests {
    use crate::core::config::redact_url as mask_url;

    #[test]
    fn redis_passwords_are_masked() {
        assert_eq!(mask_url("redis://:s3cret@127.0.0.1:6379/0"), "redis://:***@127.0.0.1:6379/0");
        assert_eq!(mask_url("rediss://u:p@h"), "rediss://u:***@h");
        assert_eq!(mask_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
