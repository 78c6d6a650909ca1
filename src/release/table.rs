//! The releases this tool supports and the istio/proxy commit each one pins, so that `resolve`
//! works offline and can cross-check what the Istio repository says.
//!
//! Each hash is the `lastStableSHA` of the `PROXY_REPO_SHA` entry of `istio.deps` at the
//! release's tag in istio/istio (the value its Makefile exports as `ISTIO_ENVOY_VERSION`); each
//! one is also the commit istio/proxy tagged with the same release number.

use super::IstioVersion;

/// The 1.6 line, oldest first.
pub const PINS: &[(IstioVersion, &str)] = &[
    (v(0), "12cfbda324320f99e0e39d7c393109fcd824591f"),
    (v(1), "d2d90debc27cb3776b1b27d11056cbb37a17aaa7"),
    (v(2), "9e2704aa828400b4c5e0b9c54db46c538d2b1ebf"),
    (v(3), "9085616b434c0e0b54cc677cfd3b97a0fed71c0c"),
    (v(4), "80ad06b26b3f97606143871e16268eb036ca7dcd"),
    (v(5), "a20ed1b7b98d8a7a8480c5100c0752578e31d659"),
    (v(6), "ccae1bd37085ecd78415dc06b50233b3b97e30c0"),
    (v(7), "ccae1bd37085ecd78415dc06b50233b3b97e30c0"),
    (v(8), "ccae1bd37085ecd78415dc06b50233b3b97e30c0"),
    (v(9), "ccae1bd37085ecd78415dc06b50233b3b97e30c0"),
    (v(10), "ccae1bd37085ecd78415dc06b50233b3b97e30c0"),
    (v(11), "201124ab4fc06dc051c9aebdb49f1d2197e46f02"),
    (v(12), "ef96e9c2f0b0d2a31e3a9426c4b339db0b33885f"),
    (v(13), "ef96e9c2f0b0d2a31e3a9426c4b339db0b33885f"),
    (v(14), "1ef6cb53abbb057185f4bcb60e28cf92c3a174ad"),
];

const fn v(patch: u16) -> IstioVersion {
    IstioVersion::new(1, 6, patch)
}

/// The built-in pin of a release, if the tool supports it.
pub fn pin(version: IstioVersion) -> Option<&'static str> {
    PINS.iter()
        .find(|(v, _)| *v == version)
        .map(|(_, sha)| *sha)
}

/// "supported releases: Istio 1.6.0 to 1.6.14", for error messages.
pub fn supported() -> String {
    let first = PINS.first().expect("table is not empty").0;
    let last = PINS.last().expect("table is not empty").0;
    format!("supported releases: Istio {first} to {last}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_complete_and_well_formed() {
        for (i, (version, sha)) in PINS.iter().enumerate() {
            assert_eq!(*version, IstioVersion::new(1, 6, i as u16));
            assert_eq!(sha.len(), 40);
            assert!(
                sha.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
        }
        assert_eq!(
            pin(IstioVersion::new(1, 6, 14)),
            Some("1ef6cb53abbb057185f4bcb60e28cf92c3a174ad")
        );
        assert_eq!(pin(IstioVersion::new(1, 6, 15)), None);
        assert_eq!(supported(), "supported releases: Istio 1.6.0 to 1.6.14");
    }
}
