//! The repository stands on its own: its code and docs point only at files it holds.

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                files(&path, out);
            }
        } else if [".rs", ".md", ".toml", ".sh", ".js", ".html"]
            .iter()
            .any(|ext| name.ends_with(ext))
        {
            out.push(path);
        }
    }
}

/// Module docs once sent readers to design notes kept outside the repository; the facts now
/// live in `docs/`, and every `docs/…` path a source file names exists.
#[test]
fn code_and_docs_name_only_files_of_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    files(root, &mut all);
    assert!(all.len() > 50, "the walk found the sources");
    let outside = ["../shared", "`shared/", " shared/"];
    let mut problems = Vec::new();
    for file in &all {
        let text = std::fs::read_to_string(file).unwrap();
        if file.ends_with("tests/repository.rs") {
            continue;
        }
        for needle in outside {
            if text.contains(needle) {
                problems.push(format!("{} names {needle}…", file.display()));
            }
        }
        for (i, _) in text.match_indices("`docs/") {
            let rest = &text[i + 1..];
            let named = &rest[..rest.find('`').unwrap()];
            if !root.join(named).exists() {
                problems.push(format!("{} names a missing {named}", file.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
