//! The modules of `domain` and of `service` do not import each other in
//! circles (each crate apart: the crate boundary already orders the two), except two
//! loops inside one business area each, justified where they are written
//! (access ↔ account: an account's trust; scans ↔ suppression_rules:
//! findings). A new circle fails here with its members named: cut the edge
//! by moving the shared rule into `domain`, or by passing a value in.
//! Production code only: test modules are left out.

mod sources;

use sources::{production_lines, rust_files, workspace};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Folders that group modules by layer; their modules are the nodes.
const LAYERS: [&str; 2] = ["aws", "runtime"];

const ALLOWED: [&[&str]; 2] = [&["access", "account"], &["scans", "suppression_rules"]];

/// Each top-level module of `src` and the top-level modules its code names
/// as `crate::<module>` (including inside `crate::{...}` groups).
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for path in rust_files(src) {
        let relative = path.strip_prefix(src).unwrap();
        let parts: Vec<String> = relative
            .components()
            .map(|part| {
                part.as_os_str()
                    .to_string_lossy()
                    .trim_end_matches(".rs")
                    .to_string()
            })
            .collect();
        // A layer folder's modules are nodes of their own: `aws::store`.
        let top = match parts.as_slice() {
            [layer, module, ..] if LAYERS.contains(&layer.as_str()) && module != "mod" => {
                format!("{layer}::{module}")
            }
            [first, ..] => first.clone(),
            [] => continue,
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let production = production_lines(&text).join("\n");
        files.entry(top).or_default().push(production);
    }
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    let mut edges = BTreeMap::new();
    for (module, texts) in &files {
        let mut names = BTreeSet::new();
        for text in texts {
            for (at, _) in text.match_indices("crate::") {
                let rest = &text[at + "crate::".len()..];
                let named: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                    let group = &group[..group.find('}').unwrap_or(group.len())];
                    group
                        .split(',')
                        .map(|part| part.trim().split("::").next().unwrap_or("").trim())
                        .collect()
                } else {
                    let end = rest
                        .find(|c: char| !(c.is_ascii_lowercase() || c == '_' || c == ':'))
                        .unwrap_or(rest.len());
                    let path = rest[..end].trim_end_matches(':');
                    let mut segments = path.split("::");
                    let first = segments.next().unwrap_or("");
                    if LAYERS.contains(&first) {
                        vec![&path[..first.len() + 2 + segments.next().unwrap_or("").len()]]
                    } else {
                        vec![first]
                    }
                };
                for name in named {
                    if name != module && modules.contains(name) {
                        names.insert(name.to_string());
                    }
                }
            }
        }
        edges.insert(module.clone(), names);
    }
    edges
}

/// The strongly connected components with more than one module.
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let reaches = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut pending = vec![from.to_string()];
        while let Some(module) = pending.pop() {
            for next in edges.get(&module).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    pending.push(next.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> =
        edges.keys().map(|m| (m, reaches(m))).collect();
    let mut found: Vec<BTreeSet<String>> = Vec::new();
    for module in edges.keys() {
        let circle: BTreeSet<String> = reach[module]
            .iter()
            .filter(|other| reach[other].contains(module))
            .cloned()
            .collect();
        if circle.len() > 1 && !found.contains(&circle) {
            found.push(circle);
        }
    }
    found
}

#[test]
fn the_modules_form_no_circle_but_the_two_justified_loops() {
    for (crate_src, sample_edge) in [
        (
            workspace().join("service/src"),
            ("aws::store", "aws::codec"),
        ),
        (workspace().join("domain/src"), ("account", "trust")),
    ] {
        let edges = graph(&crate_src);
        assert!(
            edges[sample_edge.0].contains(sample_edge.1),
            "the walk read the imports of {}",
            crate_src.display()
        );
        let unexpected: Vec<BTreeSet<String>> = circles(&edges)
            .into_iter()
            .filter(|circle| {
                !ALLOWED.iter().any(|allowed| {
                    circle.len() == allowed.len() && allowed.iter().all(|m| circle.contains(*m))
                })
            })
            .collect();
        assert!(
            unexpected.is_empty(),
            "modules of {} that import each other in a circle: {unexpected:?}",
            crate_src.display()
        );
    }
}

/// The layers point one way: the adapters (`aws::*`) name neither a use
/// case nor the runtime, so an adapter can be read, and replaced, without
/// them; the use cases may name the runtime only for the composition root
/// they are built from.
#[test]
fn the_adapters_name_no_use_case_and_no_runtime() {
    let edges = graph(&workspace().join("service/src"));
    assert!(
        edges.keys().filter(|m| m.starts_with("aws::")).count() > 10,
        "the walk found the adapters: {:?}",
        edges.keys()
    );
    let against: Vec<String> = edges
        .iter()
        .filter(|(from, _)| from.starts_with("aws::"))
        .flat_map(|(from, to)| {
            to.iter()
                .filter(|to| *to == "usecases" || to.starts_with("runtime::"))
                .map(move |to| format!("{from} -> {to}"))
        })
        .collect();
    assert!(
        against.is_empty(),
        "adapters importing upwards: {against:?}"
    );
}

/// The module graph as `from -> to` lines, for a closing note:
/// `MODULE_GRAPH_OF=<src dir> cargo test -p service --test module_graph -- --ignored --nocapture`
/// (this crate's `src` by default).
#[test]
#[ignore]
fn print_the_edges() {
    let src = std::env::var("MODULE_GRAPH_OF")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| workspace().join("service/src"));
    let edges = graph(&src);
    for (from, to) in &edges {
        for to in to {
            println!("{from} -> {to}");
        }
    }
    println!(
        "{} modules, {} edges, circles: {:?}",
        edges.len(),
        edges.values().map(BTreeSet::len).sum::<usize>(),
        circles(&edges)
    );
}
