//! COM_STMT_EXECUTE of a prepared statement over a sharded table: the bound parameters are the keys;
//! the shard's text becomes the statement's key in the connection's statement cache (prepared there on
//! first use), and the EXECUTE runs like any other.

use sluice_protocol::Packet;
use sluice_protocol::constants::status;
use sluice_router::classify::Class;
use sluice_router::lexer::Lexed;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::core::error::{Error, Result};
use crate::frontend::session::Session;
use crate::frontend::session::prepared::{stmt_key, unknown};

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// A sharded statement's EXECUTE: its parameters give the shard; the shard's text is what the
    /// connection prepares and runs.
    pub(in crate::frontend::session) async fn execute_sharded(
        &mut self,
        id: u32,
        p: &Packet,
        lexed: &Lexed,
        class: &Class,
        ctx: &mut super::StatementCtx,
    ) -> Result<()> {
        use sluice_protocol::binary::{Value, parse_stmt_execute};
        use sluice_router::shard::KeyValue;
        let Some(stmt) = self.stmts.map.get_mut(&id) else { return Err(unknown(id, "mysqld_stmt_execute")) };
        let Some((shape, text)) = stmt.sharded.clone() else {
            return Err(unknown(id, "mysqld_stmt_execute"));
        };
        let long: Vec<bool> = if stmt.long_data.is_empty() {
            Vec::new()
        } else {
            (0..stmt.params).map(|i| stmt.long_data.iter().any(|(p, _)| *p == i)).collect()
        };
        let exec =
            parse_stmt_execute(&p.payload, usize::from(stmt.params), stmt.param_types.as_deref(), &long)
                .map_err(|e| {
                    Error::reply((1210, "HY000"), format!("Incorrect arguments to mysqld_stmt_execute: {e}"))
                })?;
        stmt.param_types = Some(exec.types.clone());
        let params: Vec<Option<KeyValue>> = exec
            .params
            .iter()
            .map(|v| match v {
                Value::Int(i) => Some(KeyValue::Int(i128::from(*i))),
                Value::UInt(u) => Some(KeyValue::Int(i128::from(*u))),
                Value::Bytes(b) => Some(KeyValue::Str(b.to_vec())),
                _ => None,
            })
            .collect();
        let (_, toks) = sluice_router::lexer::lex_tokens_with(&text, self.lex_mode());
        let map = self.shared.plans.shards();
        let route = sluice_router::shard::route::route_statement(&shape, map, &text, &toks, &params, &|| 0)?;
        let sluice_router::shard::route::ShardRoute::One(part) = route else {
            return Err(Error::reply(
                sluice_protocol::constants::errors::NOT_SUPPORTED_YET,
                "a prepared statement over a sharded table runs on one shard: bind its shard key (key = ? or a single-shard key IN (…)), or use the text protocol for statements over several shards",
            ));
        };
        let table = match shape.as_ref() {
            sluice_router::shard::shape::ShardShape::Routed { table, .. } => *table,
            sluice_router::shard::shape::ShardShape::Refused(_) => 0,
        };
        let group = map.tables.get(table).and_then(|t| t.shards.get(part.shard)).map_or(0, |s| s.group);
        self.check_tx_shard((group, part.shard))?;
        if let Some(stmt) = self.stmts.map.get_mut(&id) {
            stmt.key = stmt_key(stmt.sql_mode.as_deref(), stmt.schema.as_deref(), part.sql.as_bytes());
        }
        self.enter_shard_group(group)?;
        let r = self.run_statement(&p.payload, p.next_seq, lexed, class, ctx).await;
        let label = self.last_route.member.and_then(|m| self.shared.member(m)).map(|a| a.label.clone());
        self.last_route.shards = vec![(part.shard, label.unwrap_or_default(), part.sql)];
        self.note_tx_shard((group, part.shard));
        if self.stmts.cursor == Some(id) && self.status & status::CURSOR_EXISTS == 0 {
            self.close_cursor();
        }
        r
    }
}
