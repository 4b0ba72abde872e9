//! The modules of `proxy/src` form layers: no import circle between top-level modules.
//!
//! Every `crate::<module>` path in `proxy/src/**/*.rs` (in `use` lines and in code; comments do not
//! count) is an edge from the top-level module the file belongs to (`session/auth.rs` belongs to
//! `session`) to `<module>`; edges inside one module folder do not count. The test fails when the
//! graph has a strongly connected component of more than one module, and prints each circle with the
//! files and the lines that make its edges, so the next engineer knows which import to move.
//!
//! An edge that cannot be removed yet goes in [`ALLOWED`] with the reason; there is none today.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Edges (from, to) the check ignores, each with why it is still there.
const ALLOWED: &[(&str, &str, &str)] = &[];

/// Where one edge is made: file and line.
type Sites = Vec<(String, usize)>;

#[test]
fn proxy_modules_have_no_import_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&src);
    assert!(graph.len() > 10, "read too few modules from {}: {graph:?}", src.display());
    let circles: Vec<Vec<&str>> = sccs(&graph).into_iter().filter(|c| c.len() > 1).collect();
    if circles.is_empty() {
        return;
    }
    let mut report = String::new();
    for c in &circles {
        let _ = writeln!(report, "\nimport circle of {} modules: {}", c.len(), c.join(", "));
        for from in c {
            for (to, sites) in &graph[*from] {
                if c.contains(&to.as_str()) {
                    let (file, line) = &sites[0];
                    let more =
                        if sites.len() > 1 { format!(" (+{} more)", sites.len() - 1) } else { String::new() };
                    let _ = writeln!(report, "  {from} -> {to}   {file}:{line}{more}");
                }
            }
        }
    }
    panic!(
        "proxy/src has import circles between top-level modules; move the shared type down into a module \
         both sides can use (or allow the edge in ALLOWED in proxy/tests/layers.rs, with the reason):{report}"
    );
}

/// module -> (module it uses -> where).
fn graph(src: &Path) -> BTreeMap<String, BTreeMap<String, Sites>> {
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, Sites>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap_or(&file);
        let Some(first) = rel.components().next() else { continue };
        let first = first.as_os_str().to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue; // the crate root declares the modules; the binary is a client of the library
        }
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let out = graph.entry(module.clone()).or_default();
        for (line, to) in crate_paths(&strip_comments(&text)) {
            if to != module && ALLOWED.iter().all(|(f, t, _)| (*f, *t) != (module.as_str(), to.as_str())) {
                out.entry(to).or_default().push((format!("proxy/src/{}", rel.display()), line));
            }
        }
    }
    // Modules named only as targets (a typo would show as a module with no file).
    let targets: BTreeSet<String> = graph.values().flat_map(|m| m.keys().cloned()).collect();
    for t in targets {
        graph.entry(t).or_default();
    }
    graph
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text with comments and the insides of string literals blanked (newlines kept).
fn strip_comments(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if b[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        if b[i] == b'\n' {
                            out.push(b'\n');
                        }
                        i += 1;
                    }
                }
            }
            b'"' => {
                // A raw string `r"…"` / `r#"…"#` ends at the quote (and hashes) it started with.
                let hashes = b[..i].iter().rev().take_while(|&&c| c == b'#').count();
                let raw = i > hashes && b[i - hashes - 1] == b'r';
                out.push(b'"');
                i += 1;
                while i < b.len() {
                    if !raw && b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i] == b'"'
                        && b[i + 1..].iter().take(hashes).filter(|&&c| c == b'#').count() == hashes
                    {
                        break;
                    }
                    if b[i] == b'\n' {
                        out.push(b'\n');
                    }
                    i += 1;
                }
                if i < b.len() {
                    out.push(b'"');
                    i += 1;
                }
            }
            // A char literal ('x', '\n', '"'); a lifetime ('a) has no closing quote after one char.
            b'\'' if b.get(i + 1) == Some(&b'\\') => {
                let end = b[i + 2..].iter().position(|&c| c == b'\'').map_or(b.len(), |p| i + 3 + p);
                out.extend_from_slice(&b[i..end]);
                i = end;
            }
            b'\'' if b.get(i + 2) == Some(&b'\'') => {
                out.extend_from_slice(&b[i..i + 3]);
                i += 3;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// (line, module) for every `crate::module` and every module in a `crate::{a, b::c}` group.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let ident = |s: &str| -> String { s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect() };
    for (n, _) in text.match_indices("crate::") {
        // `crate` as a whole word (`$crate::` counts: it names this crate too).
        if text[..n].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let line = text[..n].matches('\n').count() + 1;
        let rest = text[n + "crate::".len()..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            // The first word of each top-level item of the group.
            let (mut depth, mut start) = (0, 0);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        found.push((line, ident(group[start..i].trim_start())));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push((line, ident(group[start..i].trim_start())));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.push((line, ident(rest)));
        }
    }
    found.retain(|(_, m)| !m.is_empty() && m != "self");
    found
}

/// Strongly connected components (Tarjan), each sorted, in a stable order.
fn sccs(graph: &BTreeMap<String, BTreeMap<String, Sites>>) -> Vec<Vec<&str>> {
    struct Tarjan<'a> {
        graph: &'a BTreeMap<String, BTreeMap<String, Sites>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<&'a str>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            let graph = self.graph;
            for w in graph.get(v).into_iter().flat_map(|m| m.keys()) {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut c = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    c.push(w);
                    if w == v {
                        break;
                    }
                }
                c.sort_unstable();
                self.out.push(c);
            }
        }
    }
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.out
}

#[test]
fn the_check_sees_a_circle_and_the_edges_it_should() {
    let text = strip_comments(
        "use crate::{a::X, b::{c, d}, self};\n// crate::commented\nlet s = \"crate::in_string\"; \
         let c = '\"'; crate::e::f(); /* crate::block */ r#\"crate::raw\"#;\n",
    );
    let mods: Vec<String> = crate_paths(&text).into_iter().map(|(_, m)| m).collect();
    // Paths in comments and string literals do not count.
    assert_eq!(mods, ["a", "b", "e"]);
    let mut g: BTreeMap<String, BTreeMap<String, Sites>> = BTreeMap::new();
    for (f, t) in [("x", "y"), ("y", "z"), ("z", "x"), ("z", "w")] {
        g.entry(f.into()).or_default().insert(t.into(), vec![]);
        g.entry(t.into()).or_default();
    }
    let big: Vec<_> = sccs(&g).into_iter().filter(|c| c.len() > 1).collect();
    assert_eq!(big, [vec!["x", "y", "z"]]);
}
