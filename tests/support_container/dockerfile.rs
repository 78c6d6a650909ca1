//! Reading the CentOS 7 Dockerfile the way its shell steps run: instructions with their
//! continuation lines joined, RUN steps split into commands at `&&`, the repository ids the
//! steps write and the packages each `yum install` names.

/// The Dockerfile's instructions, in order, comment lines dropped and `\` continuations joined.
pub fn instructions(dockerfile: &str) -> Vec<String> {
    let mut all = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                all.push(std::mem::take(&mut current));
            }
        }
    }
    all
}

/// One shell command of a RUN step (between `&&`s), with the index of its RUN step.
pub struct Command {
    pub run: usize,
    pub text: String,
}

/// Every command of every RUN step, in order.
pub fn commands(dockerfile: &str) -> Vec<Command> {
    instructions(dockerfile)
        .iter()
        .filter_map(|i| i.strip_prefix("RUN "))
        .enumerate()
        .flat_map(|(run, body)| {
            body.split("&&")
                .map(move |c| Command {
                    run,
                    text: c.split_whitespace().collect::<Vec<_>>().join(" "),
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The repository ids a command writes: those of a `for repo in id:dir …` loop, or the
/// literal `[id]` a printf writes.
pub fn repo_ids(command: &str) -> Vec<String> {
    if let Some(rest) = command.split("for repo in ").nth(1) {
        let list = rest.split(';').next().unwrap_or("");
        return list
            .split_whitespace()
            .map(|entry| entry.split(':').next().unwrap().to_string())
            .collect();
    }
    command
        .split("printf '[")
        .skip(1)
        .filter_map(|rest| rest.split(']').next())
        .filter(|id| *id != "%s")
        .map(str::to_string)
        .collect()
}

/// The package names of a `yum install` command (its options left out), or `None` for any
/// other command.
pub fn yum_install(command: &str) -> Option<Vec<String>> {
    let rest = command.strip_prefix("yum install ")?;
    Some(
        rest.split_whitespace()
            .filter(|w| !w.starts_with('-'))
            .map(str::to_string)
            .collect(),
    )
}
