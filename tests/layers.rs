//! The library's architecture, checked from its source: the top-level modules form layers (a
//! module uses only modules of lower layers), the library stands without the command line
//! (`crate::cli` and clap only in src/cli/ and src/main.rs), only the command line talks to
//! the terminal (no `println!`/`eprintln!` in library code: notices go through the prompter,
//! which honours --quiet and --json), no source file is over 700 lines (a longer one does
//! several jobs), and no function takes so many arguments that clippy's `too_many_arguments`
//! must be allowed (parameter structs instead).
//!
//! The source is read as tokens with comments and string literals removed, so a doc comment
//! that mentions a module is not a dependency. Dependencies are `crate::X` paths (also inside
//! `use crate::{..}` groups) and `super::` paths that climb to the crate root.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first. A module may use `crate::Error`/`crate::Result` (re-exported from
/// `error`) and modules of lower layers only; modules of one layer do not use each other.
const LAYERS: &[&[&str]] = &[
    // Text from outside made safe for a terminal: errors and output both escape with it.
    &["text"],
    // Errors: everything fails with them.
    &["error"],
    // Foundations: secrets and the prompter; atomic owner-only writes; PEM armour; the one
    // signing abstraction (Signer, in-memory keys, ECDSA verification, challenges).
    &["secret", "fsio", "pem", "sign"],
    // Pure data: TUF metadata; the attribute syntax both key references share.
    &["tuf", "uri"],
    // Device I/O: PKCS#11 tokens; YubiKey PIV. Neither knows the other.
    &["token", "piv"],
    // Keys: references of either kind, the session that opens them, key files, mirroring.
    &["keys"],
    // Repositories: trust dir, staging, publishing, the notary server, the client.
    &["repo"],
    &["backup"],
    // Fuzzing harnesses: they reach every parser of outside data, so they sit above them all.
    &["fuzz"],
    // The command line: flags, rendering, the terminal prompter. Above it only src/main.rs,
    // the binary, which is not a module of the library.
    &["cli"],
];

/// Where the command line may appear: its module and the binary.
fn is_cli(rel: &str) -> bool {
    rel.starts_with("src/cli/") || rel == "src/cli.rs" || rel == "src/main.rs"
}

// ---------------------------------------------------------------------------------------------
// Reading the source

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// `::`
    Path,
    Punct(char),
}

/// Rust source as tokens, without comments, string, byte-string and char literals (a lifetime
/// stays an apostrophe and an identifier). Each token carries its line number.
fn tokens(src: &str) -> Vec<(usize, Tok)> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if c[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if let Some(end) = raw_string_end(&c, i) {
            line += c[i..end].iter().filter(|&&x| x == '\n').count();
            i = end;
        } else if ch == '"' || (ch == 'b' && at(i + 1) == '"') {
            i += if ch == 'b' { 2 } else { 1 };
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                if at(i) == '\n' {
                    line += 1;
                }
                i += 1;
            }
            i += 1;
        } else if ch == '\'' || (ch == 'b' && at(i + 1) == '\'') {
            // A char literal ('x', '\n', '\u{..}', b'x'), or else a lifetime or label.
            let start = if ch == 'b' { i + 1 } else { i };
            if at(start + 1) == '\\' {
                i = start + 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(start + 2) == '\'' {
                i = start + 3;
            } else {
                out.push((line, Tok::Punct('\'')));
                i = start + 1;
            }
        } else if ch.is_alphabetic() || ch == '_' {
            if ch == 'r' && at(i + 1) == '#' {
                i += 2; // a raw identifier (r#type) is its name
            }
            let s = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[s..i].iter().collect();
            out.push((line, Tok::Ident(word)));
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
        } else if ch == ':' && at(i + 1) == ':' {
            out.push((line, Tok::Path));
            i += 2;
        } else {
            out.push((line, Tok::Punct(ch)));
            i += 1;
        }
    }
    out
}

/// The end of a raw (byte) string literal starting at `i` (`r"..."`, `r#"..."#`, `br"..."`).
fn raw_string_end(c: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if c.get(j) == Some(&'b') {
        j += 1;
    }
    if c.get(j) != Some(&'r') {
        return None;
    }
    // Not the tail of an identifier such as `for` or `bar`.
    if i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while c.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    if c.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < c.len() {
        if c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(c.len())
}

struct SourceFile {
    /// Relative to the crate, with `/` separators: `src/keys/session.rs`.
    rel: String,
    /// The module path of the file: `["keys", "session"]`; empty for lib.rs and main.rs.
    module: Vec<String>,
    toks: Vec<(usize, Tok)>,
    /// Lines in the file.
    lines: usize,
}

fn source_files() -> Vec<SourceFile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    collect(&root.join("src"), &mut paths);
    paths.sort();
    assert!(
        paths.len() > 20,
        "expected the crate's sources under {}, found {}",
        root.join("src").display(),
        paths.len()
    );
    paths
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(root)
                .expect("under the crate")
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&p).expect("readable source");
            SourceFile {
                module: module_path(&rel),
                toks: tokens(&text),
                lines: text.lines().count(),
                rel,
            }
        })
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("readable src dir") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn module_path(rel: &str) -> Vec<String> {
    let inner = rel.trim_start_matches("src/").trim_end_matches(".rs");
    let mut parts: Vec<String> = inner.split('/').map(str::to_string).collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The top-level modules `src/lib.rs` declares.
fn top_level_modules(files: &[SourceFile]) -> BTreeSet<String> {
    let lib = files
        .iter()
        .find(|f| f.rel == "src/lib.rs")
        .expect("src/lib.rs");
    let t = &lib.toks;
    let mut mods = BTreeSet::new();
    for i in 0..t.len() {
        if t[i].1 == Tok::Ident("mod".into()) {
            if let (Some((_, Tok::Ident(name))), Some((_, Tok::Punct(';')))) =
                (t.get(i + 1), t.get(i + 2))
            {
                mods.insert(name.clone());
            }
        }
    }
    mods
}

/// One use of another top-level module.
#[derive(Debug, Clone)]
struct Use {
    file: String,
    line: usize,
    target: String,
}

/// The first identifier of each item of a `{ .. }` group starting at `t[i]` (`{keys::X, tuf}`
/// gives keys and tuf; `self` and nested groups' inner items are skipped).
fn group_heads(t: &[(usize, Tok)], i: usize) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect_head = true;
    for (_, tok) in &t[i..] {
        match tok {
            Tok::Punct('{') => {
                depth += 1;
                expect_head = depth == 1;
            }
            Tok::Punct('}') => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Tok::Punct(',') if depth == 1 => expect_head = true,
            Tok::Ident(name) if expect_head && depth == 1 => {
                heads.push(name.clone());
                expect_head = false;
            }
            _ => {
                if depth == 1 {
                    expect_head = false;
                }
            }
        }
    }
    heads
}

/// Every use of a top-level module from `f`, other than its own.
fn uses(f: &SourceFile, tops: &BTreeSet<String>) -> Vec<Use> {
    let t = &f.toks;
    let mut out = Vec::new();
    // Inline modules (`mod tests { .. }`) deepen the path that `super::` climbs.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let own = f.module.first().cloned();
    let mut i = 0;
    while i < t.len() {
        let (line, tok) = &t[i];
        match tok {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            Tok::Ident(kw) if kw == "mod" => {
                if let (Some((_, Tok::Ident(name))), Some((_, Tok::Punct('{')))) =
                    (t.get(i + 1), t.get(i + 2))
                {
                    inline.push((name.clone(), depth));
                }
            }
            _ => {}
        }
        // The position right after a path prefix that reaches the crate root, if any.
        let after_root = match tok {
            Tok::Ident(kw) if kw == "crate" && t.get(i + 1).map(|x| &x.1) == Some(&Tok::Path) => {
                // `pub(crate)` and `pub(in crate::..)` are visibility, not uses.
                Some(i + 2)
            }
            Tok::Ident(kw)
                if kw == "super"
                    && (i == 0 || t[i - 1].1 != Tok::Path)
                    && t.get(i + 1).map(|x| &x.1) == Some(&Tok::Path) =>
            {
                let mut k = 0;
                let mut j = i;
                while t.get(j).map(|x| &x.1) == Some(&Tok::Ident("super".into()))
                    && t.get(j + 1).map(|x| &x.1) == Some(&Tok::Path)
                {
                    k += 1;
                    j += 2;
                }
                let here = f.module.len() + inline.len();
                (k >= here).then_some(j)
            }
            _ => None,
        };
        if let Some(j) = after_root {
            let heads = match t.get(j).map(|x| &x.1) {
                Some(Tok::Ident(name)) => vec![name.clone()],
                Some(Tok::Punct('{')) => group_heads(t, j),
                _ => vec![],
            };
            for h in heads {
                if tops.contains(&h) && Some(&h) != own.as_ref() {
                    out.push(Use {
                        file: f.rel.clone(),
                        line: *line,
                        target: h,
                    });
                }
            }
        }
        i += 1;
    }
    out
}

/// Lines of `f` where `pred` matches a token window.
fn lines_where(f: &SourceFile, pred: impl Fn(&[(usize, Tok)]) -> bool) -> Vec<usize> {
    (0..f.toks.len())
        .filter(|&i| pred(&f.toks[i..]))
        .map(|i| f.toks[i].0)
        .collect()
}

fn ident(w: &[(usize, Tok)], k: usize, name: &str) -> bool {
    matches!(w.get(k), Some((_, Tok::Ident(x))) if x == name)
}

// ---------------------------------------------------------------------------------------------
// The checks

#[test]
fn the_command_line_stays_in_cli() {
    let mut found = Vec::new();
    for f in source_files().iter().filter(|f| !is_cli(&f.rel)) {
        for line in lines_where(f, |w| {
            ident(w, 0, "crate") && w.get(1).map(|x| &x.1) == Some(&Tok::Path) && ident(w, 2, "cli")
        }) {
            found.push(format!("{}:{line}: crate::cli", f.rel));
        }
        for line in lines_where(f, |w| ident(w, 0, "clap")) {
            found.push(format!("{}:{line}: clap", f.rel));
        }
    }
    assert!(
        found.is_empty(),
        "the library must stand without the command line; only src/cli/ and src/main.rs may \
         use crate::cli or clap:\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn only_the_command_line_talks_to_the_terminal() {
    const PRINTS: &[&str] = &["print", "println", "eprint", "eprintln", "dbg"];
    const STREAMS: &[&str] = &["stdin", "stdout", "stderr"];
    let mut found = Vec::new();
    for f in source_files().iter().filter(|f| !is_cli(&f.rel)) {
        for line in lines_where(f, |w| {
            PRINTS.iter().any(|m| ident(w, 0, m))
                && w.get(1).map(|x| &x.1) == Some(&Tok::Punct('!'))
        }) {
            found.push(format!("{}:{line}: a print macro", f.rel));
        }
        for line in lines_where(f, |w| {
            ident(w, 0, "io")
                && w.get(1).map(|x| &x.1) == Some(&Tok::Path)
                && STREAMS.iter().any(|s| ident(w, 2, s))
        }) {
            found.push(format!("{}:{line}: a standard stream", f.rel));
        }
    }
    assert!(
        found.is_empty(),
        "library code must not print: tell the user through the Prompter (notice, touch, warn) \
         or return the data to the command line:\n  {}",
        found.join("\n  ")
    );
}

/// The most lines a source file may have.
const MAX_LINES: usize = 700;

/// Files of `files` longer than [`MAX_LINES`], with their length.
fn too_long(files: &[SourceFile]) -> Vec<String> {
    files
        .iter()
        .filter(|f| f.lines > MAX_LINES)
        .map(|f| format!("{}: {} lines", f.rel, f.lines))
        .collect()
}

#[test]
fn no_source_file_is_over_700_lines() {
    let long = too_long(&source_files());
    assert!(
        long.is_empty(),
        "a source file over {MAX_LINES} lines does several jobs: split it by job (a module \
         named after each):\n  {}",
        long.join("\n  ")
    );
}

/// Lines of `f` where code (not a comment or a string) names clippy's `too_many_arguments`:
/// an `allow` or `expect` of it.
fn too_many_arguments_allowed(f: &SourceFile) -> Vec<usize> {
    lines_where(f, |w| ident(w, 0, "too_many_arguments"))
}

#[test]
fn no_function_needs_too_many_arguments() {
    let mut found = Vec::new();
    for f in &source_files() {
        for line in too_many_arguments_allowed(f) {
            found.push(format!("{}:{line}", f.rel));
        }
    }
    assert!(
        found.is_empty(),
        "clippy::too_many_arguments is allowed here: pass a parameter struct (or a builder) \
         instead of a long argument list:\n  {}",
        found.join("\n  ")
    );
}

fn layer_of(m: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&m))
}

#[test]
fn every_module_has_a_layer() {
    let files = source_files();
    let tops = top_level_modules(&files);
    let placed: Vec<&str> = LAYERS.iter().flat_map(|l| l.iter().copied()).collect();
    let unplaced: Vec<&String> = tops.iter().filter(|m| layer_of(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "top-level modules missing from the LAYERS table in tests/layers.rs: {unplaced:?}"
    );
    let stale: Vec<&&str> = placed.iter().filter(|m| !tops.contains(**m)).collect();
    assert!(
        stale.is_empty(),
        "LAYERS names modules that do not exist: {stale:?}"
    );
    let mut seen = BTreeSet::new();
    for m in &placed {
        assert!(seen.insert(m), "{m} is in two layers");
    }
}

#[test]
fn modules_use_only_lower_layers() {
    let files = source_files();
    let tops = top_level_modules(&files);
    let mut bad = Vec::new();
    for f in &files {
        let Some(from) = f.module.first() else {
            continue; // lib.rs and main.rs sit above every layer
        };
        let Some(lf) = layer_of(from) else {
            continue; // reported by every_module_has_a_layer
        };
        for u in uses(f, &tops) {
            match layer_of(&u.target) {
                Some(lt) if lt < lf => {}
                _ => bad.push(format!(
                    "{}:{}: {from} (layer {lf}) uses {} (layer {})",
                    u.file,
                    u.line,
                    u.target,
                    layer_of(&u.target).map_or("?".into(), |l| l.to_string())
                )),
            }
        }
    }
    assert!(
        bad.is_empty(),
        "a module may use only modules of lower layers (see LAYERS in tests/layers.rs):\n  {}",
        bad.join("\n  ")
    );
}

#[test]
fn the_module_graph_has_no_cycle() {
    let files = source_files();
    let tops = top_level_modules(&files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        if let Some(from) = f.module.first() {
            for u in uses(f, &tops) {
                graph.entry(from.clone()).or_default().insert(u.target);
            }
        }
    }
    // Depth-first search; a back edge closes a cycle.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|s| s == m) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        stack.push(m.to_string());
        for next in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in &tops {
        if let Some(cycle) = visit(m, &graph, &mut Vec::new(), &mut done) {
            panic!("the top-level modules form a cycle: {}", cycle.join(" -> "));
        }
    }
}

// The reader itself: what it must and must not count as a use.
#[test]
fn the_reader_sees_code_not_comments_or_strings() {
    let tops: BTreeSet<String> = ["keys", "tuf", "cli"].map(String::from).into();
    let file = |rel: &str, src: &str| SourceFile {
        rel: rel.into(),
        module: module_path(rel),
        toks: tokens(src),
        lines: src.lines().count(),
    };
    let targets =
        |f: &SourceFile| -> Vec<String> { uses(f, &tops).into_iter().map(|u| u.target).collect() };
    let f = file(
        "src/tuf/x.rs",
        "// crate::keys in a comment\n/* crate::cli /* nested */ */\n\
         const S: &str = \"crate::keys\"; const R: &str = r#\"crate::cli \"#;\n\
         const C: char = '\"'; fn f<'a>(x: &'a u8) {}\n\
         pub(crate) fn g() {}\nuse crate::{Error, keys::Signer};\n\
         mod tests { use super::super::keys; use super::super::super::cli; }\n\
         fn h() { super::tuf::f() }",
    );
    assert_eq!(targets(&f), ["keys", "cli"]);
    let f = file("src/tuf/mod.rs", "use super::keys; use crate::tuf::x;");
    assert_eq!(targets(&f), ["keys"]);
    let f = file(
        "src/keys/a/b.rs",
        "use super::super::Thing; use super::super::super::cli;",
    );
    assert_eq!(targets(&f), ["cli"]);

    // The allow of too_many_arguments is seen in code, not in comments or strings.
    let f = file(
        "src/repo/x.rs",
        "// #[allow(clippy::too_many_arguments)]\nconst S: &str = \"too_many_arguments\";\n\
         #[allow(clippy::too_many_arguments)]\nfn f() {}\n\
         #[expect(clippy::too_many_arguments)]\nfn g() {}",
    );
    assert_eq!(too_many_arguments_allowed(&f), [3, 5]);

    // Line counts: a file over the limit is named, one at the limit is not.
    let at = file("src/a.rs", &"x\n".repeat(MAX_LINES));
    let over = file("src/b.rs", &"x\n".repeat(MAX_LINES + 1));
    assert_eq!(
        too_long(&[at, over]),
        [format!("src/b.rs: {} lines", MAX_LINES + 1)]
    );
}

/// The layer table of docs/ARCHITECTURE.md: for each `| N | `a`, `b` | ... |` row, the layer
/// number and the modules named in its second column.
fn documented_layers(doc: &str) -> BTreeMap<usize, BTreeSet<String>> {
    let mut out: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(n), Some(mods)) = (cells.get(1), cells.get(2)) else {
            continue;
        };
        let Ok(n) = n.parse::<usize>() else { continue };
        let names = mods
            .split(',')
            .map(|m| m.trim().trim_matches('`').to_string())
            .filter(|m| !m.is_empty());
        out.entry(n).or_default().extend(names);
    }
    out
}

#[test]
fn the_architecture_document_shows_these_layers() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ARCHITECTURE.md"))
            .expect("docs/ARCHITECTURE.md");
    let documented = documented_layers(&doc);
    let actual: BTreeMap<usize, BTreeSet<String>> = LAYERS
        .iter()
        .enumerate()
        .map(|(i, l)| (i, l.iter().map(|m| m.to_string()).collect()))
        .collect();
    assert_eq!(
        documented, actual,
        "docs/ARCHITECTURE.md's layer table differs from LAYERS in tests/layers.rs; update the one that is wrong"
    );
}

#[test]
fn the_document_reader_reads_layer_rows() {
    let doc = "| layer | modules | job |\n|---|---|---|\n| 0 | `text` | x |\n| 2 | `a` | y |\n| 2 | `b`, `c` | z |\n";
    let got = documented_layers(doc);
    assert_eq!(got.len(), 2);
    assert_eq!(got[&2].len(), 3);
    assert!(got[&0].contains("text"));
}
