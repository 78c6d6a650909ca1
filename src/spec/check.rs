//! The checks every value of a spec goes through, each returning the message its line gets.

/// Names, releases and dist tags: what rpm accepts in an NVR field (no `-`, no spaces).
pub fn check_word(value: &str, what: &str) -> std::result::Result<(), String> {
    let ok = !value.is_empty()
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric() || "._+~^".contains(c) || (what == "name" && c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} {value:?} may only contain letters, digits and . _ + ~ ^{}",
            if what == "name" { " -" } else { "" }
        ))
    }
}

/// Input names are what `--input NAME=PATH` gives: lower-case words joined by `-`.
pub fn check_input_name(name: &str) -> std::result::Result<(), String> {
    let ok = name.split('-').all(|part| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "source {name:?} must be lower-case letters and digits joined by -, such as pilot-agent"
        ))
    }
}

/// User and group names as shadow-utils accepts them (and rpm stores them).
pub(super) fn check_owner(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "owner {name:?} must be a user or group name (letters, digits, . _ -)"
        ))
    }
}

/// An absolute, normalized destination inside the target system.
pub(super) fn check_path(path: &str) -> std::result::Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("path {path:?} must be absolute"));
    }
    if path.len() > 1 && path.ends_with('/') {
        return Err(format!("path {path:?} must not end with /"));
    }
    for part in path[1..].split('/') {
        match part {
            "" => return Err(format!("path {path:?} has an empty component")),
            "." | ".." => {
                return Err(format!(
                    "path {path:?} has a {part:?} component: destinations must not escape or wander"
                ));
            }
            _ if part.chars().any(|c| c.is_control()) => {
                return Err(format!("path {path:?} has a control character"));
            }
            _ => {}
        }
    }
    if path == "/" {
        return Err("path \"/\" cannot be packaged".to_string());
    }
    Ok(path.to_string())
}

/// Octal permission bits as a string ("0755"); the file type is added by the writer.
pub(super) fn parse_mode(mode: &str) -> std::result::Result<u16, String> {
    let bad = || format!("mode {mode:?} must be octal permission bits such as \"0644\"");
    if mode.is_empty() || mode.len() > 4 || !mode.chars().all(|c| ('0'..='7').contains(&c)) {
        return Err(bad());
    }
    u16::from_str_radix(mode, 8).map_err(|_| bad())
}

/// "YYYY-MM-DD" → noon UTC of that day, in seconds since the epoch.
pub(super) fn parse_date(date: &str) -> std::result::Result<u32, String> {
    let bad = || format!("date {date:?} must be YYYY-MM-DD");
    let parts: Vec<&str> = date.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    let (y, m, d): (i64, u32, u32) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    if !(1970..=2105).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let days = days_from_civil(y, m, d);
    u32::try_from(days * 86_400 + 12 * 3600).map_err(|_| bad())
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
