//! What a spec says beyond its files: explicit Requires (rpmbuild's `Requires:` and
//! `Requires(pre):` lines) and the install scriptlets (`%pre`, `%post`, `%preun`, `%postun`).

use serde::Deserialize;
use toml::Spanned;

/// When a scriptlet runs. The order is rpm's: the new package's `%pre` and `%post`, then the
/// old package's `%preun` and `%postun`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScriptWhen {
    Pre,
    Post,
    Preun,
    Postun,
}

impl ScriptWhen {
    pub const ALL: [ScriptWhen; 4] = [
        ScriptWhen::Pre,
        ScriptWhen::Post,
        ScriptWhen::Preun,
        ScriptWhen::Postun,
    ];

    /// The spec-file section name: `%pre`.
    pub fn section(self) -> &'static str {
        match self {
            ScriptWhen::Pre => "%pre",
            ScriptWhen::Post => "%post",
            ScriptWhen::Preun => "%preun",
            ScriptWhen::Postun => "%postun",
        }
    }

    /// rpm's `RPMSENSE_SCRIPT_*` bit for a dependency needed while this scriptlet runs
    /// (lib/rpmds.h: PRE 1<<9, POST 1<<10, PREUN 1<<11, POSTUN 1<<12, the same in 4.11).
    pub fn sense(self) -> u32 {
        match self {
            ScriptWhen::Pre => 1 << 9,
            ScriptWhen::Post => 1 << 10,
            ScriptWhen::Preun => 1 << 11,
            ScriptWhen::Postun => 1 << 12,
        }
    }
}

/// A version comparison of a Requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Less,
    LessEqual,
    Equal,
    GreaterEqual,
    Greater,
}

impl Op {
    /// rpm's `RPMSENSE_LESS` (2), `GREATER` (4) and `EQUAL` (8) bits.
    pub fn sense(self) -> u32 {
        match self {
            Op::Less => 2,
            Op::LessEqual => 2 | 8,
            Op::Equal => 8,
            Op::GreaterEqual => 4 | 8,
            Op::Greater => 4,
        }
    }

    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "<" => Op::Less,
            "<=" => Op::LessEqual,
            "=" => Op::Equal,
            ">=" => Op::GreaterEqual,
            ">" => Op::Greater,
            _ => return None,
        })
    }
}

/// One explicit Requires. `version` may use `%{version}` and `%{release}` (release with its
/// dist tag, as rpmbuild's `%{release}` is), filled in when the package is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub name: String,
    pub op: Option<Op>,
    pub version: String,
    /// Scriptlets that need it (`Requires(pre,post): …`); empty for a plain Requires.
    pub when: Vec<ScriptWhen>,
    pub line: usize,
}

impl Requirement {
    /// The version with `%{version}` and `%{release}` filled in.
    pub fn version_for(&self, version: &str, release: &str) -> String {
        self.version
            .replace("%{version}", version)
            .replace("%{release}", release)
    }

    /// The `REQUIREFLAGS` bits: comparison plus the scriptlet bits.
    pub fn sense(&self) -> u32 {
        self.op.map_or(0, Op::sense) | self.when.iter().map(|w| w.sense()).fold(0, |a, b| a | b)
    }
}

/// One install scriptlet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scriptlet {
    pub when: ScriptWhen,
    /// Absolute path of the program rpm feeds the script to (`/bin/sh`).
    pub interpreter: String,
    /// The script, without trailing blank lines (rpmbuild strips them too).
    pub body: String,
    pub line: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRequirement {
    name: Spanned<String>,
    version: Option<Spanned<String>>,
    #[serde(default)]
    when: Vec<ScriptWhen>,
}

impl RawRequirement {
    /// Where the entry starts in the spec text, for its line number.
    pub(super) fn start(&self) -> usize {
        self.name.span().start
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScripts {
    pre: Option<RawScript>,
    post: Option<RawScript>,
    preun: Option<RawScript>,
    postun: Option<RawScript>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScript {
    #[serde(default = "default_interpreter")]
    interpreter: Spanned<String>,
    body: Spanned<String>,
}

fn default_interpreter() -> Spanned<String> {
    Spanned::new(0..0, "/bin/sh".to_string())
}

/// A problem at a byte offset of the spec text.
pub(super) type Located = (usize, String);

pub(super) fn requirement(raw: RawRequirement) -> Result<Requirement, Located> {
    let name = raw.name.get_ref();
    let bad_name = name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>=,".contains(c));
    if bad_name {
        return Err((
            raw.name.span().start,
            format!("requires name {name:?} must be one word without spaces, commas or < = >"),
        ));
    }
    let (op, version) = match &raw.version {
        None => (None, String::new()),
        Some(v) => {
            let at = v.span().start;
            let (op, evr) = v.get_ref().trim().split_once(' ').ok_or_else(|| {
                (
                    at,
                    format!(
                        "version {:?} must be an operator and a version, such as \"= %{{version}}-%{{release}}\"",
                        v.get_ref()
                    ),
                )
            })?;
            let op = Op::parse(op).ok_or_else(|| {
                (
                    at,
                    format!("version operator {op:?} must be one of < <= = >= >"),
                )
            })?;
            let evr = evr.trim();
            let stripped = evr.replace("%{version}", "").replace("%{release}", "");
            if evr.is_empty() || stripped.chars().any(|c| c.is_whitespace() || c == '%') {
                return Err((
                    at,
                    format!(
                        "version {evr:?} may use only %{{version}} and %{{release}} as macros, and no spaces"
                    ),
                ));
            }
            (Some(op), evr.to_string())
        }
    };
    let mut when = raw.when;
    when.sort();
    when.dedup();
    Ok(Requirement {
        name: name.clone(),
        op,
        version,
        when,
        line: 0,
    })
}

pub(super) fn scriptlets(raw: RawScripts) -> Result<Vec<(Scriptlet, usize)>, Located> {
    let mut out = Vec::new();
    let all = [
        (ScriptWhen::Pre, raw.pre),
        (ScriptWhen::Post, raw.post),
        (ScriptWhen::Preun, raw.preun),
        (ScriptWhen::Postun, raw.postun),
    ];
    for (when, script) in all {
        let Some(script) = script else { continue };
        let interpreter = script.interpreter.get_ref();
        // rpm 4.11 runs `<lua>` itself; anything else must be a program on the system.
        // Arguments would need rpmlib(ScriptletInterpreterArgs): keep it one path.
        let at = script.interpreter.span().start;
        if !interpreter.starts_with('/') || interpreter.chars().any(char::is_whitespace) {
            return Err((
                at,
                format!(
                    "{} interpreter {interpreter:?} must be one absolute path, such as /bin/sh",
                    when.section()
                ),
            ));
        }
        let body = script.body.get_ref().trim_end();
        if body.trim().is_empty() {
            return Err((
                script.body.span().start,
                format!("{} body is empty: leave the scriptlet out", when.section()),
            ));
        }
        out.push((
            Scriptlet {
                when,
                interpreter: interpreter.clone(),
                body: body.to_string(),
                line: 0,
            },
            script.body.span().start,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_rpms() {
        let r = Requirement {
            name: "systemd".into(),
            op: None,
            version: String::new(),
            when: vec![ScriptWhen::Post, ScriptWhen::Preun, ScriptWhen::Postun],
            line: 1,
        };
        // Requires(post,preun,postun) as rpmbuild 4.18 writes it: 0x1c00.
        assert_eq!(r.sense(), 7168);
        let r = Requirement {
            name: "istio-proxy".into(),
            op: Some(Op::Equal),
            version: "%{version}-%{release}".into(),
            when: Vec::new(),
            line: 1,
        };
        assert_eq!(r.sense(), 8);
        assert_eq!(r.version_for("1.6.14", "1.el7"), "1.6.14-1.el7");
    }
}
