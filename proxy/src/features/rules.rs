//! Query rules from `[[rules]]`: the first rule whose conditions all hold decides a statement's route,
//! block or cache policy. Compiled once per config (digests parsed, regexes built); matching is a few
//! comparisons on what the lexer and the plan already know.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sluice_router::lexer::Lexed;

use crate::core::config::{RuleAction, RuleConfig};

/// Where a `route` rule sends a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleTarget {
    /// The primary.
    Primary,
    /// A replica (when the statement may run on one; writes still go to the primary).
    Replica,
    /// Normal routing within the group of this name (a `[[groups]]` entry).
    Group(String),
}

/// A rule ready to match.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its name (config `name`, else `rule<N>`).
    pub name: String,
    user: Option<String>,
    schema: Option<String>,
    digest: Option<u64>,
    pattern: Option<String>,
    /// `Some(None)`: a regex that did not compile (validation rejects it): the rule never matches.
    regex: Option<Option<regex::Regex>>,
    tables: Vec<String>,
    /// What it does.
    pub action: RuleAction,
    /// For `route`.
    pub target: Option<RuleTarget>,
    /// For `cache`, ms.
    pub ttl_ms: Option<u64>,
    /// For `block`.
    pub message: String,
    /// Statement time limit, ms.
    pub timeout_ms: Option<u64>,
}

/// What a statement is matched on.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Client user.
    pub user: &'a str,
    /// Current schema, if any.
    pub schema: Option<&'a [u8]>,
    /// The lexed statement.
    pub lexed: &'a Lexed,
    /// Tables it reads and tables it writes (`t` or `schema.t`, lower-case).
    pub tables: [&'a [String]; 2],
}

/// The compiled rules, in order; replaced as a whole by a config reload (sessions see the new list at
/// their next statement, without a lock).
#[derive(Debug, Default)]
pub struct Rules {
    list: arc_swap::ArcSwap<Vec<Arc<Rule>>>,
    /// Whether `list` is empty (the common case: one relaxed load per statement, no matching).
    empty: AtomicBool,
}

fn compile(config: &[RuleConfig]) -> Vec<Arc<Rule>> {
    config
        .iter()
        .enumerate()
        .map(|(i, r)| {
            Arc::new(Rule {
                name: r.name.clone().unwrap_or_else(|| format!("rule{i}")),
                user: r.matches.user.clone(),
                schema: r.matches.schema.clone(),
                digest: r.matches.digest.as_deref().and_then(|d| u64::from_str_radix(d, 16).ok()),
                pattern: r.matches.pattern.as_ref().map(|p| p.to_lowercase()),
                regex: r
                    .matches
                    .regex
                    .as_ref()
                    .map(|re| regex::RegexBuilder::new(re).case_insensitive(true).build().ok()),
                tables: r.matches.tables.iter().map(|t| t.to_lowercase()).collect(),
                action: r.action,
                target: r.target.as_deref().map(|t| match t {
                    "primary" => RuleTarget::Primary,
                    "replica" => RuleTarget::Replica,
                    name => RuleTarget::Group(name.to_owned()),
                }),
                ttl_ms: r.ttl_ms,
                message: r
                    .message
                    .clone()
                    .unwrap_or_else(|| "statement blocked by a sluice query rule".into()),
                timeout_ms: r.timeout_ms,
            })
        })
        .collect()
}

impl Rules {
    /// Compiles validated rules (an invalid regex, which validation rejects, never matches).
    pub fn new(config: &[RuleConfig]) -> Self {
        let r = Self::default();
        r.replace(config);
        r
    }

    /// Replaces every rule (config reload).
    pub fn replace(&self, config: &[RuleConfig]) {
        let list = compile(config);
        let empty = list.is_empty();
        self.list.store(Arc::new(list));
        self.empty.store(empty, Ordering::Release);
    }

    /// Whether there are none (the common case: no matching at all).
    pub fn is_empty(&self) -> bool {
        self.empty.load(Ordering::Acquire)
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.list.load().len()
    }

    /// The first rule whose conditions all hold for `s`.
    pub fn first_match(&self, s: &Subject<'_>) -> Option<Arc<Rule>> {
        self.list.load().iter().find(|r| r.matches(s)).cloned()
    }
}

impl Rule {
    fn matches(&self, s: &Subject<'_>) -> bool {
        if self.user.as_deref().is_some_and(|u| u != s.user) {
            return false;
        }
        if let Some(schema) = &self.schema
            && s.schema != Some(schema.as_bytes())
        {
            return false;
        }
        if self.digest.is_some_and(|d| d != s.lexed.digest) {
            return false;
        }
        if self.pattern.as_deref().is_some_and(|p| !s.lexed.text.contains(p)) {
            return false;
        }
        if self.regex.as_ref().is_some_and(|re| !re.as_ref().is_some_and(|re| re.is_match(&s.lexed.text))) {
            return false;
        }
        if !self.tables.is_empty() {
            let schema = s.schema.map(String::from_utf8_lossy);
            let hit = s.tables.iter().flat_map(|t| t.iter()).any(|t| {
                self.tables.iter().any(|want| {
                    want == t
                        || match (want.split_once('.'), t.split_once('.'), &schema) {
                            // `db.t` in the rule, bare `t` in a statement run in schema `db`.
                            (Some((db, name)), None, Some(cur)) => name == t && db == cur.as_ref(),
                            // Bare `t` in the rule matches `t` in any schema.
                            (None, Some((_, name)), _) => name == want,
                            _ => false,
                        }
                })
            });
            if !hit {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap; the lint guards library code
mod tests {
    use super::*;
    use crate::core::config::RuleMatch;
    use sluice_router::lexer::lex;

    fn rule(m: RuleMatch, action: RuleAction) -> RuleConfig {
        RuleConfig {
            name: None,
            matches: m,
            action,
            target: None,
            ttl_ms: None,
            message: Some("no".into()),
            timeout_ms: None,
        }
    }

    #[test]
    fn conditions_all_hold_and_first_wins() {
        let l = lex(b"SELECT * FROM orders WHERE id = 5");
        let rules = Rules::new(&[
            rule(RuleMatch { user: Some("bob".into()), ..RuleMatch::default() }, RuleAction::Block),
            rule(
                RuleMatch { regex: Some(r"^select \* from ORDERS".into()), ..RuleMatch::default() },
                RuleAction::Nocache,
            ),
            rule(RuleMatch::default(), RuleAction::Block),
        ]);
        let tables = vec!["orders".to_string()];
        let s = Subject { user: "app", schema: Some(b"shop"), lexed: &l, tables: [&tables, &[]] };
        assert_eq!(rules.first_match(&s).map(|r| r.name.clone()).as_deref(), Some("rule1"));
        let s = Subject { user: "bob", ..s };
        assert_eq!(rules.first_match(&s).map(|r| r.name.clone()).as_deref(), Some("rule0"));
    }

    #[test]
    fn digest_pattern_schema_and_tables() {
        let l = lex(b"DELETE FROM shop.orders WHERE id = 1");
        let digest = format!("{:016x}", l.digest);
        let m = |m: RuleMatch| Rules::new(&[rule(m, RuleAction::Block)]);
        let t = vec!["shop.orders".to_string()];
        let s = Subject { user: "app", schema: Some(b"shop"), lexed: &l, tables: [&[], &t] };
        assert!(m(RuleMatch { digest: Some(digest), ..RuleMatch::default() }).first_match(&s).is_some());
        assert!(
            m(RuleMatch { digest: Some("0000000000000001".into()), ..RuleMatch::default() })
                .first_match(&s)
                .is_none()
        );
        assert!(
            m(RuleMatch { pattern: Some("DELETE FROM".into()), ..RuleMatch::default() })
                .first_match(&s)
                .is_some()
        );
        assert!(
            m(RuleMatch { schema: Some("other".into()), ..RuleMatch::default() }).first_match(&s).is_none()
        );
        assert!(
            m(RuleMatch { tables: vec!["orders".into()], ..RuleMatch::default() }).first_match(&s).is_some()
        );
        let bare = vec!["orders".to_string()];
        let s = Subject { tables: [&bare, &[]], ..s };
        assert!(
            m(RuleMatch { tables: vec!["shop.orders".into()], ..RuleMatch::default() })
                .first_match(&s)
                .is_some()
        );
        assert!(
            m(RuleMatch { tables: vec!["crm.orders".into()], ..RuleMatch::default() })
                .first_match(&s)
                .is_none()
        );
    }
}
