//! Scriptlets, and whether CentOS 7 can run them. rpm 4.11.3 runs a scriptlet with the
//! program its `…PROG` tag names, `/bin/sh` when there is none, and its embedded Lua for
//! `<lua>` (rpm@rpm-4.11.3-release lib/rpmscript.c rpmScriptFromTag, rpmScriptRun); any other
//! program is execv'd in the target root (runExtScript), so one that is not there fails the
//! scriptlet: a failing %pre, %preun or %pretrans stops that package, a failing %post or
//! %postun leaves it half done.
//!
//! What counts as there, kept short: the programs every CentOS 7 has (bash, glibc's ldconfig,
//! the Python 2.7 yum runs on; /bin and /sbin are links into /usr since RHEL 7's UsrMove), and
//! a few more that CentOS 7.9's base repository packages, when the package requires them so
//! yum brings them first.

use rpm::{DependencyFlags, IndexTag};

use super::el7::show_dep;
use super::read::RpmFile;
use super::report::{Report, Status};

/// How many lines of each scriptlet `inspect` shows.
const SCRIPT_LINES: usize = 5;

/// Interpreters on every CentOS 7 install, by path under /usr, and the package that has them.
const STOCK: [(&str, &str); 6] = [
    ("/usr/bin/sh", "bash"),
    ("/usr/bin/bash", "bash"),
    ("/usr/sbin/ldconfig", "glibc"),
    ("/usr/bin/python", "python"),
    ("/usr/bin/python2", "python"),
    ("/usr/bin/python2.7", "python"),
];

/// Interpreters CentOS 7.9's base repository packages but a minimal install lacks (python3 is
/// in base since 7.7).
const PACKAGED: [(&str, &str); 4] = [
    ("/usr/bin/perl", "perl"),
    ("/usr/bin/python3", "python3"),
    ("/usr/bin/python3.6", "python3"),
    ("/usr/bin/lua", "lua"),
];

/// One scriptlet as the header holds it.
#[derive(Clone, Debug)]
pub struct Scriptlet {
    /// `%pre`, `%post`…
    pub name: &'static str,
    /// The `…PROG` tag: program and arguments; empty when absent (rpm runs /bin/sh).
    pub argv: Vec<String>,
    pub first_lines: Vec<String>,
    pub total_lines: usize,
    /// The dependency flag rpmbuild gives this scriptlet's `Requires(…)`.
    pub context: DependencyFlags,
}

impl Scriptlet {
    /// The interpreter as `rpm -qp --scripts` shows it.
    pub fn interpreter(&self) -> String {
        if self.argv.is_empty() {
            "/bin/sh".into()
        } else {
            self.argv.join(" ")
        }
    }
}

/// The scriptlets in the order rpm runs them.
pub fn scriptlets(rpm: &RpmFile) -> Vec<Scriptlet> {
    use IndexTag::*;
    let kinds = [
        (
            "%pretrans",
            RPMTAG_PRETRANS,
            RPMTAG_PRETRANSPROG,
            DependencyFlags::PRETRANS,
        ),
        (
            "%pre",
            RPMTAG_PREIN,
            RPMTAG_PREINPROG,
            DependencyFlags::SCRIPT_PRE,
        ),
        (
            "%post",
            RPMTAG_POSTIN,
            RPMTAG_POSTINPROG,
            DependencyFlags::SCRIPT_POST,
        ),
        (
            "%preun",
            RPMTAG_PREUN,
            RPMTAG_PREUNPROG,
            DependencyFlags::SCRIPT_PREUN,
        ),
        (
            "%postun",
            RPMTAG_POSTUN,
            RPMTAG_POSTUNPROG,
            DependencyFlags::SCRIPT_POSTUN,
        ),
        (
            "%posttrans",
            RPMTAG_POSTTRANS,
            RPMTAG_POSTTRANSPROG,
            DependencyFlags::POSTTRANS,
        ),
        (
            "%verifyscript",
            RPMTAG_VERIFYSCRIPT,
            RPMTAG_VERIFYSCRIPTPROG,
            DependencyFlags::SCRIPT_VERIFY,
        ),
    ];
    let mut out = Vec::new();
    for (name, body, prog, context) in kinds {
        // A string in old packages, a string array (program and arguments) since: rpm reads
        // either as an argv (HEADERGET_ARGV), a plain string being one word.
        let argv: Vec<String> = match rpm.strings(prog) {
            v if !v.is_empty() => v.into_iter().map(str::to_string).collect(),
            _ => rpm.string(prog).map(str::to_string).into_iter().collect(),
        };
        if !rpm.has(body) && argv.is_empty() {
            continue;
        }
        let lines: Vec<&str> = rpm
            .string(body)
            .map(|s| s.lines().collect())
            .unwrap_or_default();
        out.push(Scriptlet {
            name,
            argv,
            first_lines: lines
                .iter()
                .take(SCRIPT_LINES)
                .map(|l| l.to_string())
                .collect(),
            total_lines: lines.len(),
            context,
        });
    }
    out
}

/// The scriptlet contexts and interpreter mark of a requirement, in rpm's `deptype` words.
pub fn contexts(flags: DependencyFlags) -> Vec<&'static str> {
    [
        (DependencyFlags::PRETRANS, "pretrans"),
        (DependencyFlags::SCRIPT_PRE, "pre"),
        (DependencyFlags::SCRIPT_POST, "post"),
        (DependencyFlags::SCRIPT_PREUN, "preun"),
        (DependencyFlags::SCRIPT_POSTUN, "postun"),
        (DependencyFlags::POSTTRANS, "posttrans"),
        (DependencyFlags::SCRIPT_VERIFY, "verify"),
        (DependencyFlags::INTERP, "interp"),
    ]
    .into_iter()
    .filter(|(flag, _)| flags.contains(*flag))
    .map(|(_, word)| word)
    .collect()
}

/// /bin/x and /sbin/x are /usr/bin/x and /usr/sbin/x on CentOS 7.
fn under_usr(path: &str) -> String {
    if let Some(rest) = path.strip_prefix("/bin/") {
        format!("/usr/bin/{rest}")
    } else if let Some(rest) = path.strip_prefix("/sbin/") {
        format!("/usr/sbin/{rest}")
    } else {
        path.to_string()
    }
}

/// The verdict on one interpreter, given the package's requirement names.
pub fn interpreter_verdict(program: &str, requires: &[&str]) -> (Status, String) {
    if program == "<lua>" {
        return (
            Status::Pass,
            "rpm 4.11's embedded Lua (rpmlib(BuiltinLuaScripts))".into(),
        );
    }
    let path = under_usr(program);
    if let Some((_, pkg)) = STOCK.iter().find(|(p, _)| *p == path) {
        return (
            Status::Pass,
            format!("{program}, which every CentOS 7 has ({pkg})"),
        );
    }
    let execv = "rpm 4.11 execs it in the root and fails the scriptlet when it is not there \
                 (lib/rpmscript.c runExtScript)";
    let Some((_, pkg)) = PACKAGED.iter().find(|(p, _)| *p == path) else {
        return (
            Status::Fail,
            format!("{program}: no CentOS 7 package provides it; {execv}"),
        );
    };
    let required = requires
        .iter()
        .any(|r| *r == program || under_usr(r) == path || r == pkg);
    if required {
        (
            Status::Pass,
            format!(
                "{program} from CentOS 7's {pkg} package, which it requires (yum installs it \
                 first; plain `rpm -i` wants it installed)"
            ),
        )
    } else {
        (
            Status::Fail,
            format!(
                "{program} is not on a stock CentOS 7 and the package does not require it \
                 (CentOS 7's {pkg} package has it); {execv}"
            ),
        )
    }
}

/// One `el7-scriptlet` check per scriptlet: its interpreter's verdict, its size and the
/// requirements rpm installs before it runs.
pub fn check(rpm: &RpmFile, report: &mut Report) {
    let scripts = scriptlets(rpm);
    if scripts.is_empty() {
        report.pass("el7-scriptlet", "no scriptlets");
        return;
    }
    let requires = rpm.metadata.get_requires().unwrap_or_default();
    let names: Vec<&str> = requires.iter().map(|d| d.name.as_str()).collect();
    for s in &scripts {
        let program = s.argv.first().map_or("/bin/sh", String::as_str);
        let (status, mut reason) = interpreter_verdict(program, &names);
        reason.push_str(&format!(", {} lines", s.total_lines));
        let before: Vec<String> = requires
            .iter()
            .filter(|d| d.flags.contains(s.context))
            .map(show_dep)
            .collect();
        if !before.is_empty() {
            let word = &s.name[1..];
            reason.push_str(&format!("; Requires({word}): {}", before.join(", ")));
        }
        report.push_about("el7-scriptlet", s.name, status, reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpreters_el7_has_or_gets_pass_and_others_fail() {
        let pass = |p: &str, r: &[&str]| interpreter_verdict(p, r).0 == Status::Pass;
        for stock in [
            "/bin/sh",
            "/usr/bin/bash",
            "/sbin/ldconfig",
            "/usr/bin/python2",
        ] {
            assert!(pass(stock, &[]), "{stock}");
        }
        assert!(pass("<lua>", &[]));
        assert!(!pass("/usr/bin/python3", &[]));
        assert!(pass("/usr/bin/python3", &["/usr/bin/python3"]));
        assert!(pass("/bin/perl", &["perl"]));
        assert!(!pass("/usr/bin/python3.11", &["/usr/bin/python3.11"]));
        assert!(!pass("sh", &[]));
        let (_, why) = interpreter_verdict("/usr/bin/python3", &["bash"]);
        assert!(why.contains("python3 package"), "{why}");
    }

    #[test]
    fn contexts_use_rpms_words() {
        let f = DependencyFlags::SCRIPT_PRE | DependencyFlags::INTERP | DependencyFlags::GE;
        assert_eq!(contexts(f), ["pre", "interp"]);
        assert!(contexts(DependencyFlags::RPMLIB | DependencyFlags::LE).is_empty());
    }
}
