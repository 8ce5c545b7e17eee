//! Cargo.toml itself: a crate is declared once, unless the tests need more of it and a
//! comment says so.

/// One dependency line of `Cargo.toml`: its section, crate name, and the comment lines above it.
struct Declaration {
    section: String,
    name: String,
    comment: String,
}

fn declarations() -> Vec<Declaration> {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("Cargo.toml is readable");
    let mut declarations = Vec::new();
    let mut section = String::new();
    let mut comment = String::new();
    for line in manifest.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            name.clone_into(&mut section);
            comment.clear();
        } else if let Some(text) = line.strip_prefix('#') {
            comment.push_str(text);
        } else if let Some((name, _)) = line.split_once('=')
            && section.ends_with("dependencies")
        {
            declarations.push(Declaration {
                section: section.clone(),
                name: name.trim().to_owned(),
                comment: std::mem::take(&mut comment),
            });
        } else {
            comment.clear();
        }
    }
    declarations
}

#[test]
fn a_crate_declared_again_for_the_tests_says_why() {
    // A second declaration builds the tests with other features than the binary users run;
    // the normal declaration is visible to the tests anyway, so a repeat needs a reason.
    let declarations = declarations();
    let normal: Vec<&str> = declarations
        .iter()
        .filter(|d| d.section == "dependencies")
        .map(|d| d.name.as_str())
        .collect();
    assert!(normal.contains(&"tokio"), "Cargo.toml was not read");
    let unexplained: Vec<&str> = declarations
        .iter()
        .filter(|d| d.section == "dev-dependencies" && normal.contains(&d.name.as_str()))
        .filter(|d| d.comment.trim().is_empty())
        .map(|d| d.name.as_str())
        .collect();
    assert!(
        unexplained.is_empty(),
        "declared in [dependencies] and again in [dev-dependencies] without a comment: {unexplained:?}"
    );
}
