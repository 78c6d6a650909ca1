//! `istio.deps`: the JSON list at the root of istio/istio naming the commit of each repository
//! a release was built from. The proxy's entry is `PROXY_REPO_SHA`.

use serde::Deserialize;

#[derive(Deserialize)]
struct Dependency {
    name: String,
    #[serde(rename = "lastStableSHA")]
    last_stable_sha: Option<String>,
}

/// The istio/proxy commit in an `istio.deps` document, or why there is none.
pub fn proxy_pin(json: &[u8]) -> Result<String, String> {
    let deps: Vec<Dependency> =
        serde_json::from_slice(json).map_err(|e| format!("not the expected JSON list: {e}"))?;
    let entry = deps
        .into_iter()
        .find(|d| d.name == "PROXY_REPO_SHA")
        .ok_or("no PROXY_REPO_SHA entry")?;
    let sha = entry
        .last_stable_sha
        .ok_or("the PROXY_REPO_SHA entry has no lastStableSHA")?;
    if !is_commit_sha(&sha) {
        return Err(format!(
            "PROXY_REPO_SHA's lastStableSHA {sha:?} is not a 40-digit commit hash"
        ));
    }
    Ok(sha)
}

/// A full, lowercase hexadecimal SHA-1 commit name.
pub fn is_commit_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_proxy_entry() {
        let json = br#"[
            {"name": "CNI_REPO_SHA", "repoName": "cni", "lastStableSHA": "0000000000000000000000000000000000000000"},
            {"_comment": "", "name": "PROXY_REPO_SHA", "repoName": "proxy", "file": "",
             "lastStableSHA": "1ef6cb53abbb057185f4bcb60e28cf92c3a174ad"}
        ]"#;
        assert_eq!(
            proxy_pin(json).unwrap(),
            "1ef6cb53abbb057185f4bcb60e28cf92c3a174ad"
        );
    }

    #[test]
    fn explains_what_is_wrong() {
        assert!(proxy_pin(b"{}").unwrap_err().contains("JSON list"));
        assert!(
            proxy_pin(br#"[{"name":"CNI_REPO_SHA"}]"#)
                .unwrap_err()
                .contains("no PROXY_REPO_SHA")
        );
        assert!(
            proxy_pin(br#"[{"name":"PROXY_REPO_SHA","lastStableSHA":"master"}]"#)
                .unwrap_err()
                .contains("40-digit")
        );
    }
}
