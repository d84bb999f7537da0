//! Production code never follows a test module in its file (a reader
//! stops at `mod tests`). And no production function runs past 80 lines without a `// Long:` comment
//! above it saying why (a table, a template, a protocol read in order).
//! Test modules are left out. A function that grows past the limit fails
//! here with its place: split it, or say why it is one.

mod sources;

use sources::{production_lines, rust_files, workspace};
use std::path::Path;

const LIMIT: usize = 80;

/// The line's code with strings, characters and a trailing comment blanked.
fn code_of(line: &str) -> String {
    let mut code = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(inner) = chars.next() {
                    match inner {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '\'' => {
                // A char literal ('{', '\''), or a lifetime ('a): skip the
                // literal only.
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with('\\') {
                    chars.nth(2);
                } else if rest.chars().nth(1) == Some('\'') {
                    chars.nth(1);
                }
            }
            '/' if chars.peek() == Some(&'/') => break,
            _ => code.push(c),
        }
    }
    code
}

/// Each production function of a file: (file:line, name, lines, whether
/// a `// Long:` comment says why above it).
fn functions(file: &Path) -> Vec<(String, String, usize, bool)> {
    let text = std::fs::read_to_string(file).unwrap();
    let lines = production_lines(&text);
    let production = lines.len();
    let mut found = Vec::new();
    let mut at = 0;
    while at < production {
        let code = code_of(lines[at]);
        let name = code
            .split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .find(|w| {
                w[0] == "fn"
                    && w[1]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            })
            .map(|w| w[1].split(['(', '<']).next().unwrap_or(w[1]).to_string());
        let Some(name) = name else {
            at += 1;
            continue;
        };
        let (mut depth, mut opened, mut end) = (0i32, false, at);
        for (index, line) in lines.iter().enumerate().skip(at) {
            let code = code_of(line);
            for c in code.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            end = index;
            if (opened && depth == 0) || (!opened && code.trim_end().ends_with(';')) {
                break;
            }
        }
        let length = end - at + 1;
        let explained = lines[..at]
            .iter()
            .rev()
            .take_while(|l| {
                let l = l.trim_start();
                l.starts_with("//") || l.starts_with("#[")
            })
            .any(|l| l.trim_start().starts_with("// Long:"));
        found.push((
            format!("{}:{}", file.display(), at + 1),
            name,
            length,
            explained,
        ));
        // Nested functions are counted with their parent.
        at = end + 1;
    }
    found
}

/// (file:line, lines) of each function longer than the limit and without
/// its comment.
fn unexplained(file: &Path) -> Vec<(String, usize)> {
    functions(file)
        .into_iter()
        .filter(|(_, _, length, explained)| *length > LIMIT && !explained)
        .map(|(place, _, length, _)| (place, length))
        .collect()
}

#[test]
fn no_long_function_goes_unexplained() {
    let root = workspace();
    let mut files: Vec<_> = ["domain/src", "service/src", "functions", "tools"]
        .iter()
        .flat_map(|dir| rust_files(&root.join(dir)))
        .collect();
    files.retain(|f| !f.components().any(|c| c.as_os_str() == "tests"));
    assert!(
        files.len() > 50,
        "the walk found the sources: {}",
        files.len()
    );
    let long: Vec<_> = files.iter().flat_map(|f| unexplained(f)).collect();
    assert!(
        long.is_empty(),
        "functions over {LIMIT} lines without a `// Long:` comment saying why: {long:?}"
    );
}

#[test]
fn the_walk_measures_what_it_should() {
    let dir = std::env::temp_dir().join(format!("fn-length-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let body = "    let x = \"}\";\n".repeat(LIMIT);
    let text = format!(
        "fn short() {{}}\nfn long() {{\n{body}}}\n// Long: a table.\nfn told() {{\n{body}}}\n#[cfg(test)]\nfn in_tests() {{\n{body}}}\n"
    );
    let file = dir.join("sample.rs");
    std::fs::write(&file, text).unwrap();
    let found = unexplained(&file);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].0.ends_with(":2"), "{found:?}");
    assert_eq!(found[0].1, LIMIT + 2);
}

/// The first line of production code after a file's test module, if any.
fn code_after_tests(file: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .windows(2)
        .position(|w| w[0].starts_with("#[cfg(test)]") && w[1].starts_with("mod "))?;
    let mut in_test = false;
    for (index, line) in lines.iter().enumerate().skip(start) {
        if line.starts_with("#[cfg(test)]") {
            in_test = true;
        } else if *line == "}" {
            in_test = false;
        } else if !in_test && !line.trim().is_empty() && !line.starts_with("//") {
            return Some(index + 1);
        }
    }
    None
}

#[test]
fn production_code_comes_before_the_tests() {
    let root = workspace();
    let files: Vec<_> = [
        "domain/src",
        "service/src",
        "testkit/src",
        "functions",
        "tools",
        "dev/src",
    ]
    .iter()
    .flat_map(|dir| rust_files(&root.join(dir)))
    .collect();
    let after: Vec<String> = files
        .iter()
        .filter_map(|f| code_after_tests(f).map(|line| format!("{}:{line}", f.display())))
        .collect();
    assert!(
        after.is_empty(),
        "production code after a test module: {after:?}"
    );
}

/// The ten longest production functions, for a closing note:
/// `LONGEST_OF=<a checkout> cargo test -p service --test function_length -- --ignored --nocapture`
/// (this workspace by default; an older layout's `shared/src` is read too).
#[test]
#[ignore]
fn print_the_longest() {
    let root = std::env::var("LONGEST_OF")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| workspace());
    let mut all: Vec<_> = [
        "domain/src",
        "service/src",
        "shared/src",
        "functions",
        "tools",
    ]
    .iter()
    .map(|dir| root.join(dir))
    .filter(|dir| dir.is_dir())
    .flat_map(|dir| rust_files(&dir))
    .filter(|f| !f.components().any(|c| c.as_os_str() == "tests"))
    .flat_map(|f| functions(&f))
    .collect();
    all.sort_by_key(|f| std::cmp::Reverse(f.2));
    let over = all.iter().filter(|f| f.2 > LIMIT).count();
    for (place, name, length, explained) in all.iter().take(10) {
        let place = place
            .strip_prefix(&format!("{}/", root.display()))
            .unwrap_or(place);
        println!(
            "{length:4} {name} ({place}){}",
            if *explained { " [Long:]" } else { "" }
        );
    }
    println!("{} functions, {over} over {LIMIT} lines", all.len());
}
