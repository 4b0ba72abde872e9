//! Where a config came from, and the mapping between key paths (`groups[0].members[1].address`) and
//! lines of its TOML text, both ways: key path → line for validation issues, byte offset → key path for
//! the errors serde reports only with a span.

use std::fmt;
use std::sync::Arc;

use toml::de::{DeTable, DeValue};

/// The text a config was parsed from and its name, kept so that validation can point at lines.
#[derive(Clone)]
pub(super) struct Source {
    /// File name as given (or what the caller of `parse` called it).
    pub(super) origin: String,
    /// The TOML text.
    pub(super) text: Arc<str>,
}

// By hand: the text is long and says nothing a reader of `{:?}` of a Config needs.
impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source").field("origin", &self.origin).finish_non_exhaustive()
    }
}

/// 1-based line of byte offset `at`.
pub(super) fn line_at(text: &str, at: usize) -> usize {
    let end = at.min(text.len());
    text.as_bytes().get(..end).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count()) + 1
}

/// One step of a key path: a key, then any number of array indexes (`members[1]`).
fn segments(path: &str) -> impl Iterator<Item = (&str, Vec<Option<usize>>)> {
    path.split('.').map(|seg| match seg.find('[') {
        Some(i) => {
            let idx = seg[i..].split(['[', ']']).filter(|s| !s.is_empty()).map(|s| s.parse().ok());
            (&seg[..i], idx.collect())
        }
        None => (seg, Vec::new()),
    })
}

/// The line of a key path, or of its deepest ancestor present in the text (a missing key is reported
/// at the table that should hold it). `None` if `doc` (parsed from `text`) holds no part of the path.
pub(super) fn line_of(doc: &DeTable<'_>, text: &str, path: &str) -> Option<usize> {
    let mut table = doc;
    let mut best = None;
    let mut rest = segments(path).peekable();
    while let Some((key, indexes)) = rest.next() {
        let Some((k, value)) = table.iter().find(|(k, _)| k.get_ref().as_ref() == key) else {
            return best;
        };
        best = Some(line_at(text, k.span().start));
        let mut value = value;
        for idx in indexes {
            let (Some(i), DeValue::Array(items)) = (idx, value.get_ref()) else { return best };
            let Some(item) = items.get(i) else { return best };
            value = item;
            best = Some(line_at(text, value.span().start));
        }
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            _ if rest.peek().is_some() => return best,
            _ => {}
        }
    }
    best
}

/// The key path of the innermost key or value whose span holds byte offset `at`; empty when no key
/// holds it (e.g. a syntax error between tables) or the text does not parse.
///
/// The whole tree is searched: the span toml gives a table is only its `[header]`, so a table's span
/// does not contain its keys and cannot be used to prune the search.
pub(super) fn path_at(text: &str, at: usize) -> String {
    let Ok(doc) = DeTable::parse(text) else { return String::new() };
    find_in_table(doc.get_ref(), at).unwrap_or_default()
}

fn find_in_table(table: &DeTable<'_>, at: usize) -> Option<String> {
    table.iter().find_map(|(k, v)| {
        let key = k.get_ref().as_ref();
        let here = k.span().contains(&at) || v.span().contains(&at);
        match find_in_value(v.get_ref(), at) {
            Some(sub) if sub.starts_with('[') => Some(format!("{key}{sub}")),
            Some(sub) => Some(format!("{key}.{sub}")),
            None => here.then(|| key.to_owned()),
        }
    })
}

/// The path below `value` (starting with `[i]` or a key) that holds `at`.
fn find_in_value(value: &DeValue<'_>, at: usize) -> Option<String> {
    match value {
        DeValue::Table(t) => find_in_table(t, at),
        DeValue::Array(items) => {
            items.iter().enumerate().find_map(|(i, item)| match find_in_value(item.get_ref(), at) {
                Some(sub) if sub.starts_with('[') => Some(format!("[{i}]{sub}")),
                Some(sub) => Some(format!("[{i}].{sub}")),
                None => item.span().contains(&at).then(|| format!("[{i}]")),
            })
        }
        _ => None,
    }
}
