//! Builder image variants: the CentOS 7 builder image plus what one release line's Envoy needs
//! besides (a profile's `builder`, profiles/releases.toml). A variant's Dockerfile is built in,
//! like the base image's, and built FROM the tag of the base image built just before it. Its
//! hash covers the base image's hash (a build argument it also records as a label), so an
//! edited base Dockerfile gets a new variant too; an unchanged pair is reused as it stands.

use super::Engine;
use super::image::{ImageOptions, ImagePlan, ImageRef, build_image, image_plan};
use crate::release::{IstioVersion, profile};
use crate::{Error, Reporter, Result};

/// A variant this proxy-rpm can build.
#[derive(Debug, PartialEq, Eq)]
pub struct Variant {
    /// The profile's `builder.variant`, also the directory under containers/ and the tag's word.
    pub name: &'static str,
    pub dockerfile: &'static str,
    /// What it adds, the extra names of the toolchain check (the profile's `builder.needs`).
    pub needs: &'static [&'static str],
}

/// Every variant, built in.
pub const VARIANTS: &[Variant] = &[Variant {
    name: "centos7-python3-gn",
    dockerfile: include_str!("../../containers/centos7-python3-gn/Dockerfile"),
    needs: &["python3", "gn"],
}];

/// Every name `proxy-rpm image --variant` takes: the base image's, then each variant's.
pub const NAMES: &[&str] = &[profile::BASE_IMAGE_VARIANT, "centos7-python3-gn"];

/// The build argument naming the base image (the variant's `FROM`).
pub const BUILDER_ARG: &str = "BUILDER_IMAGE";
/// The build argument carrying the base image's hash.
pub const BUILDER_HASH_ARG: &str = "BUILDER_IMAGE_SHA256";

/// The variant called `name`: `None` for the base image itself.
pub fn named(name: &str) -> Result<Option<&'static Variant>> {
    if name == profile::BASE_IMAGE_VARIANT {
        return Ok(None);
    }
    match VARIANTS.iter().find(|v| v.name == name) {
        Some(variant) => Ok(Some(variant)),
        None => Err(Error::input(format!(
            "builder image variant `{name}`: this proxy-rpm builds only {}; check {} or update \
             proxy-rpm",
            NAMES.join(", "),
            profile::DATA_PATH
        ))),
    }
}

/// The variant that adds exactly these tools, if there is one (for hints).
pub fn with_needs(needs: &[&str]) -> Option<&'static Variant> {
    if needs.is_empty() {
        return None;
    }
    VARIANTS.iter().find(|v| v.needs == needs)
}

/// The variant a release's Envoy compiles in, if its line needs one; `None` for a release
/// that is not one (the base image, as before).
pub fn for_release(version: &str) -> Result<Option<&'static Variant>> {
    let profile = version.parse::<IstioVersion>().ok().and_then(profile::of);
    match profile {
        Some(profile) => named(&profile.builder.variant),
        None => Ok(None),
    }
}

/// Whether `dockerfile` declares the build argument `name` (`ARG NAME` or `ARG NAME=…`).
fn declares(dockerfile: &str, name: &str) -> bool {
    dockerfile.lines().any(|line| {
        line.trim()
            .strip_prefix("ARG ")
            .map(str::trim)
            .is_some_and(|rest| rest == name || rest.starts_with(&format!("{name}=")))
    })
}

/// Build arguments the pair cannot take: the base image and its hash are ours to set.
pub fn check_args(build_args: &[(String, String)]) -> Result<()> {
    match build_args
        .iter()
        .find(|(k, _)| k == BUILDER_ARG || k == BUILDER_HASH_ARG)
    {
        Some((k, _)) => Err(Error::input(format!(
            "--build-arg {k}: proxy-rpm sets it to the base image it builds first; change that \
             image with --dockerfile or --build-arg BASE_IMAGE=… instead"
        ))),
        None => Ok(()),
    }
}

/// The base image's options, from those given for the pair: every build argument but those
/// the variant declares (they go to its build), and the default tag (`--tag` names the
/// variant).
pub fn base_options(options: &ImageOptions, variant: &Variant) -> ImageOptions {
    let mut base = options.clone();
    base.tag = None;
    base.variant = None;
    base.build_args
        .retain(|(k, _)| !declares(variant.dockerfile, k));
    base
}

/// The variant's options: FROM the base image `base_tag` (of hash `base_hash`), with the build
/// arguments it declares.
pub fn variant_options(
    options: &ImageOptions,
    variant: &'static Variant,
    base_tag: &str,
    base_hash: &str,
) -> ImageOptions {
    let mut top = ImageOptions::new(options.engine.clone());
    top.tag = options.tag.clone();
    top.log = options.log.clone();
    top.variant = Some(variant);
    top.build_args = options
        .build_args
        .iter()
        .filter(|(k, _)| declares(variant.dockerfile, k))
        .cloned()
        .collect();
    top.build_args
        .push((BUILDER_ARG.to_string(), base_tag.to_string()));
    top.build_args
        .push((BUILDER_HASH_ARG.to_string(), base_hash.to_string()));
    top
}

/// What [`build`] would do: the base image's plan, then the variant's.
pub fn plans(options: &ImageOptions, variant: &'static Variant) -> Result<(ImagePlan, ImagePlan)> {
    let base = image_plan(&base_options(options, variant))?;
    let top = image_plan(&variant_options(options, variant, &base.tag, &base.hash))?;
    Ok((base, top))
}

/// Build the base image, then the variant FROM it, each reused when an image of its hash
/// exists: after a failure, a rerun builds only what is missing.
pub fn build(
    options: &ImageOptions,
    variant: &'static Variant,
    reporter: &Reporter,
) -> Result<(ImageRef, ImageRef)> {
    check_args(&options.build_args)?;
    let base = build_image(&base_options(options, variant), reporter)?;
    let top = build_image(
        &variant_options(options, variant, &base.tag, &base.hash),
        reporter,
    )?;
    Ok((base, top))
}

/// The builder image `proxy-rpm compile VERSION` uses when no `--image` is given: the base
/// image, or the variant the release's line needs, built if missing (only planned for
/// `--dry-run`). A work dir without a release gets the base image.
pub fn release_image(
    engine: &Engine,
    version: Option<&str>,
    dry_run: bool,
    reporter: &Reporter,
) -> Result<String> {
    let variant = match version {
        Some(version) => for_release(version)?,
        None => None,
    };
    let options = ImageOptions::new(engine.clone());
    Ok(match (variant, dry_run) {
        (None, true) => image_plan(&options)?.tag,
        (None, false) => build_image(&options, reporter)?.tag,
        (Some(variant), true) => plans(&options, variant)?.1.tag,
        (Some(variant), false) => build(&options, variant, reporter)?.1.tag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::{EngineKind, HASH_LABEL};

    fn podman() -> Engine {
        Engine::new(EngineKind::Podman, "podman", false)
    }

    /// Every profile's builder is one this proxy-rpm builds, adding exactly what it needs.
    #[test]
    fn every_profile_names_a_known_variant_with_its_needs() {
        for p in profile::profiles() {
            let variant = named(&p.builder.variant).unwrap();
            let needs: Vec<&str> = variant.map_or(Vec::new(), |v| v.needs.to_vec());
            assert_eq!(needs, p.builder.needs, "line {}", p.line);
        }
        let names: Vec<&str> = VARIANTS.iter().map(|v| v.name).collect();
        assert_eq!(NAMES[1..], names);
        let err = named("centos8").unwrap_err().to_string();
        assert!(
            err.contains("builds only centos7, centos7-python3-gn"),
            "{err}"
        );
    }

    /// The variant's image checks itself for what it adds, FROM the base image we pass.
    #[test]
    fn the_dockerfile_checks_its_needs_and_builds_from_the_given_base() {
        for v in VARIANTS {
            let check = format!("toolchain-check.sh {}\n", v.needs.join(" "));
            assert!(v.dockerfile.ends_with(&check), "{}", v.name);
            assert!(
                v.dockerfile
                    .contains("\nARG BUILDER_IMAGE\nFROM ${BUILDER_IMAGE}\n")
            );
            assert!(declares(v.dockerfile, BUILDER_HASH_ARG));
        }
        assert!(declares(VARIANTS[0].dockerfile, "GN_GIT_URL"));
        assert!(!declares(VARIANTS[0].dockerfile, "GN"));
        assert_eq!(with_needs(&["python3", "gn"]), Some(&VARIANTS[0]));
        assert_eq!(with_needs(&[]), None);
    }

    #[test]
    fn releases_pick_their_lines_variant() {
        assert_eq!(for_release("1.7.8").unwrap(), Some(&VARIANTS[0]));
        assert_eq!(for_release("1.6.14").unwrap(), None);
        assert_eq!(for_release("not-a-release").unwrap(), None);
    }

    /// Build arguments go where they are declared; the variant's tag and hash follow the base's.
    #[test]
    fn the_pair_splits_arguments_and_the_variant_follows_the_base() {
        let variant = &VARIANTS[0];
        let mut options = ImageOptions::new(podman());
        options.build_args = vec![
            ("BASE_IMAGE".into(), "mirror.test/centos:7".into()),
            ("GN_GIT_URL".into(), "http://127.0.0.1:9/gn".into()),
        ];
        let (base, top) = plans(&options, variant).unwrap();
        assert!(
            base.tag.starts_with("proxy-rpm-builder:centos7-"),
            "{}",
            base.tag
        );
        assert!(
            top.tag.starts_with("proxy-rpm-builder:centos7-python3-gn-"),
            "{}",
            top.tag
        );
        let base_cmd = base.build.display();
        let top_cmd = top.build.display();
        assert!(
            base_cmd.contains("BASE_IMAGE=mirror.test/centos:7"),
            "{base_cmd}"
        );
        assert!(!base_cmd.contains("GN_GIT_URL"), "{base_cmd}");
        assert!(
            top_cmd.contains("GN_GIT_URL=http://127.0.0.1:9/gn"),
            "{top_cmd}"
        );
        assert!(!top_cmd.contains("BASE_IMAGE="), "{top_cmd}");
        assert!(
            top_cmd.contains(&format!("BUILDER_IMAGE={}", base.tag))
                && top_cmd.contains(&format!("BUILDER_IMAGE_SHA256={}", base.hash)),
            "{top_cmd}"
        );
        assert!(top_cmd.contains(&format!("{HASH_LABEL}={}", top.hash)));

        // Another base image: another variant.
        options.build_args[0].1 = "mirror.test/centos:7.9".into();
        let (base2, top2) = plans(&options, variant).unwrap();
        assert_ne!(base2.hash, base.hash);
        assert_ne!(top2.hash, top.hash);
        // Another gn mirror: the same base, another variant.
        options.build_args[1].1 = "http://127.0.0.2:9/gn".into();
        let (base3, top3) = plans(&options, variant).unwrap();
        assert_eq!(base3.hash, base2.hash);
        assert_ne!(top3.hash, top2.hash);

        // --tag names the variant.
        options.tag = Some("localhost/mine:1".into());
        let (base4, top4) = plans(&options, variant).unwrap();
        assert_eq!(top4.tag, "localhost/mine:1");
        assert_eq!(base4.tag, base3.tag);

        let args = vec![("BUILDER_IMAGE".to_string(), "x".to_string())];
        let err = check_args(&args).unwrap_err().to_string();
        assert!(
            err.starts_with("--build-arg BUILDER_IMAGE: proxy-rpm sets it"),
            "{err}"
        );
    }
}
