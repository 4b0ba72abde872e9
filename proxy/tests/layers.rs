//! The modules of `proxy/src` sit in layers, one folder each, and every import goes down or across:
//!
//! `core` → `backend` → `features` → `frontend` → `ops` (a layer uses only the layers before it).
//!
//! Every `crate::<layer>::<module>` path in `proxy/src/**/*.rs` (in `use` lines and in code; comments
//! and strings do not count) is an edge from the module the file belongs to (`frontend/session/auth.rs`
//! belongs to `frontend/session`; a layer's `mod.rs` and the items it re-exports are the layer's own
//! node) to the module it names; edges inside one module folder do not count. The test fails on an
//! edge that goes up a layer, on a path outside the layers, and on a circle of modules, printing the
//! files and lines, so the next engineer knows which import to move.
//!
//! An edge that cannot be removed yet goes in [`ALLOWED`] with the reason; there is none today.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The layers, lowest first.
const LAYERS: [&str; 5] = ["core", "backend", "features", "frontend", "ops"];

/// Edges (from, to) the check ignores, each with why it is still there.
const ALLOWED: &[(&str, &str, &str)] = &[];

/// Where one edge is made: file and line.
type Sites = Vec<(String, usize)>;

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| module.split('/').next() == Some(*l))
}

#[test]
fn proxy_modules_only_import_downward_and_have_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = graph(&src);
    assert!(graph.len() > 20, "read too few modules from {}: {graph:?}", src.display());
    let report = violations(&graph);
    assert!(
        report.is_empty(),
        "proxy/src breaks its layering; move the shared type down into a module both sides can use (or \
         allow the edge in ALLOWED in proxy/tests/layers.rs, with the reason):{report}"
    );
}

/// Upward edges, edges out of the layers and circles, one paragraph each (empty: none).
fn violations(graph: &BTreeMap<String, BTreeMap<String, Sites>>) -> String {
    let mut report = String::new();
    for (from, edges) in graph {
        let Some(lf) = layer_of(from) else {
            let _ = writeln!(report, "\n{from} is not in a layer folder ({})", LAYERS.join(", "));
            continue;
        };
        for (to, sites) in edges {
            let (file, line) = &sites[0];
            match layer_of(to) {
                None => {
                    let _ = writeln!(report, "\n{from} -> {to}: not a layer   {file}:{line}");
                }
                Some(lt) if lt > lf => {
                    let _ = writeln!(
                        report,
                        "\n{from} ({}) imports {to} ({}), a higher layer   {file}:{line} (+{} more)",
                        LAYERS[lf],
                        LAYERS[lt],
                        sites.len() - 1
                    );
                }
                _ => {}
            }
        }
    }
    for c in sccs(graph).into_iter().filter(|c| c.len() > 1) {
        let _ = writeln!(report, "\nimport circle of {} modules: {}", c.len(), c.join(", "));
        for from in &c {
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
    report
}

/// The node a path `crate::a::b::…` names: `a/b` when `b` is a module of layer `a` (a lower-case
/// name), the layer `a` itself for an item it re-exports (`crate::backend::BackendConn`).
fn node(path: &[String]) -> String {
    match path {
        [layer, module, ..]
            if module != "self" && module.chars().next().is_some_and(|c| c.is_ascii_lowercase()) =>
        {
            format!("{layer}/{module}")
        }
        [layer, ..] => layer.clone(),
        [] => String::new(),
    }
}

/// module -> (module it uses -> where).
fn graph(src: &Path) -> BTreeMap<String, BTreeMap<String, Sites>> {
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, Sites>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap_or(&file);
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned())
            .collect();
        let module = match parts.as_slice() {
            // The crate root declares the layers; the binary is a client of the library.
            [_] => continue,
            [layer, m] if m == "mod" => layer.clone(),
            [layer, m, ..] => format!("{layer}/{m}"),
            [] => continue,
        };
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let out = graph.entry(module.clone()).or_default();
        for (line, path) in crate_paths(&strip_comments(&text)) {
            let to = node(&path);
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

/// (line, path segments) for every `crate::a::b…`, with groups expanded (`crate::{a::b, c::{d, e}}`
/// gives `a::b`, `c::d` and `c::e`).
fn crate_paths(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut found = Vec::new();
    for (n, _) in text.match_indices("crate::") {
        // `crate` as a whole word (`$crate::` counts: it names this crate too).
        if text[..n].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let line = text[..n].matches('\n').count() + 1;
        let mut paths = Vec::new();
        expand(&text[n + "crate::".len()..], &[], &mut paths);
        found.extend(paths.into_iter().map(|p| (line, p)));
    }
    found.retain(|(_, m)| m.first().is_some_and(|first| first != "self"));
    found
}

/// The paths `prefix::<text…>` names, where `text` starts a path or a `{…}` group.
fn expand(text: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let text = text.trim_start();
    let path: String = text.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
    let mut full = prefix.to_vec();
    full.extend(path.split("::").filter(|p| !p.is_empty()).map(str::to_owned));
    let Some(group) = text[path.len()..].strip_prefix('{') else {
        out.push(full);
        return;
    };
    let (mut depth, mut start) = (0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                expand(&group[start..i], &full, out);
                return;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand(&group[start..i], &full, out);
                start = i + 1;
            }
            _ => {}
        }
    }
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
    let mods: Vec<String> = crate_paths(&text).into_iter().map(|(_, m)| node(&m)).collect();
    // Paths in comments and string literals do not count; a capitalised name is a layer's item.
    assert_eq!(mods, ["a", "b/c", "b/d", "e/f"]);
    let mut g: BTreeMap<String, BTreeMap<String, Sites>> = BTreeMap::new();
    for (f, t) in [("x", "y"), ("y", "z"), ("z", "x"), ("z", "w")] {
        g.entry(f.into()).or_default().insert(t.into(), vec![]);
        g.entry(t.into()).or_default();
    }
    let big: Vec<_> = sccs(&g).into_iter().filter(|c| c.len() > 1).collect();
    assert_eq!(big, [vec!["x", "y", "z"]]);
    // Down and across pass; up, and out of the layers, do not.
    let site = || vec![("proxy/src/x.rs".to_owned(), 7)];
    let mut g: BTreeMap<String, BTreeMap<String, Sites>> = BTreeMap::new();
    g.entry("ops/admin".into()).or_default().insert("core/config".into(), site());
    g.entry("backend/pool".into()).or_default().insert("backend".into(), site());
    assert_eq!(violations(&g), "");
    g.entry("core/config".into()).or_default().insert("frontend/state".into(), site());
    g.entry("features/stats".into()).or_default().insert("elsewhere".into(), site());
    let report = violations(&g);
    assert!(
        report.contains("core/config (core) imports frontend/state (frontend), a higher layer"),
        "{report}"
    );
    assert!(report.contains("features/stats -> elsewhere: not a layer"), "{report}");
}
