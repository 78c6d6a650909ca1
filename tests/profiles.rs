//! The release profiles (profiles/releases.toml) and what is written about them elsewhere: the
//! README's table of supported releases must be the one the profiles make, and every
//! profile's packaging file must exist under that name at the line's tag of the fixture.

mod support_git;

use proxy_rpm::release::{self, profile};

const BEGIN: &str = "<!-- releases:begin -->\n";
const END: &str = "<!-- releases:end -->";

/// The text between the markers of README.md, or why there is none.
fn readme_block() -> Result<String, String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    block_of(&readme)
}

/// The text between the markers of `readme`.
fn block_of(readme: &str) -> Result<String, String> {
    let start = readme
        .find(BEGIN)
        .ok_or_else(|| format!("README.md has no {BEGIN:?} line"))?
        + BEGIN.len();
    let end = readme[start..]
        .find(END)
        .ok_or_else(|| format!("README.md has no {END:?} after {BEGIN:?}"))?;
    if readme[start + end..].contains(BEGIN) {
        return Err("README.md has the table markers twice".into());
    }
    Ok(readme[start..start + end].to_string())
}

#[test]
fn the_block_between_the_markers_is_what_is_compared() {
    let table = release::readme_table();
    let readme = format!("# proxy-rpm\n\nSupported:\n\n{BEGIN}{table}{END}\n\nMore.\n");
    assert_eq!(block_of(&readme).unwrap(), table);
    let twice = format!("{readme}{BEGIN}{table}{END}\n");
    assert!(block_of(&twice).unwrap_err().contains("twice"));
    assert!(
        block_of("no table\n")
            .unwrap_err()
            .contains("releases:begin")
    );
    let unclosed = format!("{BEGIN}{table}");
    assert!(block_of(&unclosed).unwrap_err().contains("releases:end"));
}

#[test]
fn the_readme_table_of_supported_releases_matches_the_profiles() {
    let expected = release::readme_table();
    let block = readme_block().unwrap_or_else(|why| {
        panic!("{why}; README.md should hold, between the markers:\n{BEGIN}{expected}{END}")
    });
    assert_eq!(
        block, expected,
        "README.md's table differs from profiles/releases.toml; it should read:\n\
         {BEGIN}{expected}{END}"
    );
}

#[test]
fn the_table_has_one_row_per_line_with_its_facts() {
    let table = release::readme_table();
    let rows: Vec<&str> = table.lines().skip(2).collect();
    assert_eq!(
        rows,
        [
            "| 1.6.0 to 1.6.14 | envoy_bootstrap_v2.json | 2.0.0 (1.6.0 to 1.6.5), 2.2.0 (1.6.6 \
             to 1.6.14) | 1.14 | centos7 |",
            "| 1.7.0 to 1.7.8 | envoy_bootstrap.json | 3.1.0 | 1.14, `-tags=agent` from 1.7.5 | \
             centos7-python3-gn (centos7 + python3, gn) |",
        ]
    );
}

/// The fixture's tags have each profile's packaging files, and only those of their own line's
/// bootstrap name: what prepare reads is what the profile names.
#[test]
fn each_profile_names_the_files_at_its_fixture_tag() {
    let fx = support_git::Fixture::new();
    let istio = fx.repo("istio");
    for (tag, line) in [("1.6.14", "1.6"), ("1.7.8", "1.7")] {
        let p = profile::of(tag.parse().unwrap()).unwrap();
        assert_eq!(p.line, line);
        let listed = support_git::git(
            &istio,
            &[
                "ls-tree",
                "--name-only",
                tag,
                &format!("{}/", p.packaging_dir),
            ],
        );
        for name in p.file_names() {
            let path = format!("{}/{name}", p.packaging_dir);
            assert!(
                listed.lines().any(|l| l == path),
                "{tag}: {path} in {listed}"
            );
        }
        let other = match line {
            "1.6" => "envoy_bootstrap.json",
            _ => "envoy_bootstrap_v2.json",
        };
        assert!(!listed.contains(other), "{tag} has {other}: {listed}");
    }
}
