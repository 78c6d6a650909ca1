//! The inputs given on the command line, by name: `--envoy`, `--sidecar-env` and `--bootstrap`
//! for istio-proxy's three, `--input NAME=PATH` for any other a spec names (pilot-agent,
//! istio-start, istio-service for istio-sidecar).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::PackageOptions;
use crate::error::{Error, Result};
use crate::spec::check_input_name;

/// One `--input NAME=PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedInput {
    pub name: String,
    pub path: PathBuf,
}

impl NamedInput {
    /// clap's parser for `--input`.
    pub fn parse(arg: &str) -> std::result::Result<NamedInput, String> {
        let (name, path) = arg.split_once('=').ok_or_else(|| {
            format!("{arg:?} must be NAME=PATH, such as pilot-agent=out/pilot-agent")
        })?;
        check_input_name(name)?;
        if path.is_empty() {
            return Err(format!("{arg:?} has no path after ="));
        }
        Ok(NamedInput {
            name: name.to_string(),
            path: PathBuf::from(path),
        })
    }
}

/// An input as given: where it is and how the user gave it, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Given {
    pub path: PathBuf,
    /// `--envoy` or `--input pilot-agent`.
    pub flag: String,
}

impl Given {
    /// `envoy (--envoy)`, as errors name a file's source.
    pub fn describe(&self, name: &str) -> String {
        format!("{name} ({})", self.flag)
    }
}

/// The flag that gives the input `name`: the dedicated one for istio-proxy's inputs.
pub fn flag_for(name: &str) -> String {
    match name {
        "envoy" | "sidecar-env" | "bootstrap" => format!("--{name} PATH"),
        other => format!("--input {other}=PATH"),
    }
}

impl PackageOptions {
    /// Every input given, by name. The same name given twice is an error.
    pub fn given(&self) -> Result<BTreeMap<String, Given>> {
        let mut all = BTreeMap::new();
        let dedicated = [
            ("envoy", &self.envoy),
            ("sidecar-env", &self.sidecar_env),
            ("bootstrap", &self.bootstrap),
        ];
        for (name, path) in dedicated {
            if let Some(path) = path {
                all.insert(
                    name.to_string(),
                    Given {
                        path: path.clone(),
                        flag: format!("--{name}"),
                    },
                );
            }
        }
        for input in &self.inputs {
            let flag = format!("--input {}", input.name);
            if let Some(first) = all.get(&input.name) {
                return Err(Error::input(format!(
                    "{flag}: input {} is already given by {}; give it once",
                    input.name, first.flag
                )));
            }
            all.insert(
                input.name.clone(),
                Given {
                    path: input.path.clone(),
                    flag,
                },
            );
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_inputs_parse_and_name_their_problem() {
        let i = NamedInput::parse("pilot-agent=out/pilot-agent").unwrap();
        assert_eq!(i.name, "pilot-agent");
        assert_eq!(i.path, PathBuf::from("out/pilot-agent"));
        // Only the first = splits: paths may hold one.
        assert_eq!(
            NamedInput::parse("istio-start=a=b").unwrap().path,
            PathBuf::from("a=b")
        );
        assert!(
            NamedInput::parse("pilot-agent")
                .unwrap_err()
                .contains("NAME=PATH")
        );
        assert!(
            NamedInput::parse("Pilot=x")
                .unwrap_err()
                .contains("lower-case")
        );
        assert!(
            NamedInput::parse("pilot-agent=")
                .unwrap_err()
                .contains("no path")
        );
    }

    #[test]
    fn flags_name_the_dedicated_options() {
        assert_eq!(flag_for("envoy"), "--envoy PATH");
        assert_eq!(flag_for("istio-service"), "--input istio-service=PATH");
    }
}
