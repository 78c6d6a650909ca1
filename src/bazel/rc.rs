//! The one rc file a compile gives Bazel. Bazel 2.x and 3.x (and 4.0) honour a single
//! `--bazelrc` startup option: a second one is ignored (seen with Bazel 2.1.0's release
//! binary); several came with bazelbuild/bazel PR #12740, merged after 4.0 (Debian's 4.2.3
//! takes several). The pinned istio/proxy builds with Bazel 2.2.0
//! (istio/proxy@1ef6cb53:.bazelversion), 1.7's with 3.1.0. So compile writes
//! `WORKDIR/bazel/compile.bazelrc`, which `import`s prepare's rc (the CentOS 7 cxxopts) and
//! then each `--bazelrc` the user gave, in order: a later file overrides an earlier one, and
//! nothing the user adds can drop ours.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The generated file's name in `WORKDIR/bazel/`.
pub const FILE_NAME: &str = "compile.bazelrc";

/// `WORKDIR/bazel/compile.bazelrc`.
pub fn path(workdir: &Path) -> PathBuf {
    workdir.join("bazel").join(FILE_NAME)
}

/// The generated rc: one `import` line per file, absolute paths, quoted the way Bazel's rc
/// parser tokenizes words (shell-like quotes), so a path with spaces stays one word.
pub fn contents(imports: &[PathBuf]) -> String {
    let mut text = String::from(
        "# Written by proxy-rpm compile: the one file given with bazel --bazelrc.\n\
         # prepare's settings first, then each --bazelrc given, in order (later ones win).\n",
    );
    for file in imports {
        text.push_str(&directive("import", file));
    }
    text
}

/// A `try-import` line: Bazel reads the file when it is there and skips it when not (the remote
/// headers' file exists only while Bazel runs, see `secret`).
pub fn try_import(file: &Path) -> String {
    directive("try-import", file)
}

fn directive(word: &str, file: &Path) -> String {
    format!("{word} {}\n", shell_words::quote(&file.to_string_lossy()))
}

/// Refuse an rc file to import that is not there, naming it: Bazel's own error for a missing
/// `import` would come only after its server started.
pub fn require(files: &[PathBuf]) -> Result<()> {
    match files.iter().find(|file| !file.is_file()) {
        Some(file) => Err(Error::input(format!(
            "--bazelrc {}: no such file; give an existing Bazel rc file",
            file.display()
        ))),
        None => Ok(()),
    }
}

/// For plans: where the generated rc goes and what it imports, one line each.
pub fn describe(rc: &Path, imports: &[PathBuf]) -> Vec<String> {
    let mut lines = vec![format!(
        "{} (written before Bazel starts) imports:",
        rc.display()
    )];
    if imports.is_empty() {
        lines.push("  nothing (no bazelrc from prepare, no --bazelrc)".to_string());
    }
    lines.extend(imports.iter().map(|p| format!("  {}", p.display())));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_ours_then_the_users_in_order() {
        let text = contents(&[
            PathBuf::from("/w/bazel/proxy-rpm.bazelrc"),
            PathBuf::from("/home/me/extra.bazelrc"),
            PathBuf::from("/my rcs/more.bazelrc"),
        ]);
        let imports: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            imports,
            [
                "import /w/bazel/proxy-rpm.bazelrc",
                "import /home/me/extra.bazelrc",
                "import '/my rcs/more.bazelrc'",
            ]
        );
    }
}
