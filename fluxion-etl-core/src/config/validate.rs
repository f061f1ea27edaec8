//! The checks a well-typed configuration must still pass; each failure names its key (and the
//! key's line, found in the document).

use super::error::line_of_key;
use super::{CalendarConfig, Config, ConfigError, StoreSource};

impl Config {
    /// Checks every section of a parsed `text` (`origin` names it in errors).
    pub(super) fn validate_in(&self, text: &str, origin: &str) -> Result<(), ConfigError> {
        let invalid = |key: String, message: String| ConfigError::Invalid {
            origin: origin.to_owned(),
            line: line_of_key(text, &key),
            key,
            message,
        };
        let url = &self.destination.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "destination.url".into(),
                format!("expected a `sqlite:` or `postgres://` URL, found `{url}`"),
            ));
        }
        if self.destination.inventory_history_days == 0 {
            return Err(invalid(
                "destination.inventory_history_days".into(),
                "must be greater than 0 (0 would delete the whole inventory history)".into(),
            ));
        }
        if self.destination.retention_days == 0 {
            return Err(invalid(
                "destination.retention_days".into(),
                "must be greater than 0 (0 would delete the whole history)".into(),
            ));
        }
        let b = &self.batch;
        let positive = [
            (
                "destination.connect_timeout_secs",
                self.destination.connect_timeout_secs,
            ),
            ("batch.batch_size", b.batch_size as u64),
            ("batch.max_workers", b.max_workers as u64),
            ("batch.channel_capacity", b.channel_capacity as u64),
            ("batch.connect_timeout_secs", b.connect_timeout_secs),
            ("batch.request_timeout_secs", b.request_timeout_secs),
            ("batch.inventory_timeout_secs", b.inventory_timeout_secs),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(invalid(key.into(), "must be greater than 0".into()));
            }
        }
        if b.batch_size > 1_000_000 {
            return Err(invalid(
                "batch.batch_size".into(),
                "must be at most 1000000".into(),
            ));
        }
        if let Some(klk) = &self.klk {
            if !(klk.base_url.starts_with("http://") || klk.base_url.starts_with("https://")) {
                return Err(invalid(
                    "klk.base_url".into(),
                    format!(
                        "expected an http:// or https:// URL, found `{}`",
                        klk.base_url
                    ),
                ));
            }
            if klk.auth_header.is_some() != klk.auth_env.is_some() {
                return Err(invalid(
                    "klk.auth_env".into(),
                    "`auth_header` and `auth_env` go together".into(),
                ));
            }
        }
        let s = &self.schedule;
        let hours = [
            ("schedule.execution_hour", s.execution_hour),
            ("schedule.opening_hour", s.opening_hour),
            ("schedule.recovery_hour", s.recovery_hour),
        ];
        for (key, h) in hours {
            if h > 23 {
                return Err(invalid(key.into(), format!("hour {h} is not in 0..=23")));
            }
        }
        if s.closing_hour > 24 || s.closing_hour <= s.opening_hour {
            return Err(invalid(
                "schedule.closing_hour".into(),
                format!(
                    "must be after opening_hour ({}) and at most 24",
                    s.opening_hour
                ),
            ));
        }
        if s.execution_minute > 59 {
            return Err(invalid(
                "schedule.execution_minute".into(),
                format!("minute {} is not in 0..=59", s.execution_minute),
            ));
        }
        if s.retry_interval_minutes == 0 || s.incremental_interval_minutes == 0 {
            let key = if s.retry_interval_minutes == 0 {
                "schedule.retry_interval_minutes"
            } else {
                "schedule.incremental_interval_minutes"
            };
            return Err(invalid(key.into(), "must be greater than 0".into()));
        }
        if s.max_retries > 20 {
            return Err(invalid(
                "schedule.max_retries".into(),
                "must be at most 20".into(),
            ));
        }

        let mut seen = std::collections::HashSet::new();
        for (i, store) in self.stores.iter().enumerate() {
            let key = |field: &str| format!("stores[{i}].{field}");
            let id = store.id.as_str();
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(invalid(
                    key("id"),
                    format!("`{id}` must be non-empty letters, digits, `_` or `-`"),
                ));
            }
            if !seen.insert(id) {
                return Err(invalid(key("id"), format!("duplicate store id `{id}`")));
            }
            match &store.source {
                StoreSource::Klk(k) => {
                    if self.klk.is_none() {
                        return Err(invalid(
                            "klk".into(),
                            format!("store `{id}` runs KLK but there is no [klk] section with its base_url"),
                        ));
                    }
                    if k.branch.trim().is_empty() {
                        return Err(invalid(key("source.branch"), "must not be empty".into()));
                    }
                    if k.warehouse.trim().is_empty() {
                        return Err(invalid(key("source.warehouse"), "must not be empty".into()));
                    }
                }
                StoreSource::Stellar(st) => {
                    if st.port == 0 {
                        return Err(invalid(key("source.port"), "must not be 0".into()));
                    }
                    if st.depot.trim().is_empty() {
                        return Err(invalid(key("source.depot"), "must not be empty".into()));
                    }
                    if st.chunk_rows == 0 {
                        return Err(invalid(
                            key("source.chunk_rows"),
                            "must be greater than 0".into(),
                        ));
                    }
                    if st.host.local.trim().is_empty() {
                        return Err(invalid(
                            key("source.host.local"),
                            "must not be empty".into(),
                        ));
                    }
                    for (field, env) in [
                        ("user_env", &st.user_env),
                        ("password_env", &st.password_env),
                    ] {
                        if !is_env_name(env) {
                            return Err(invalid(
                                key(&format!("source.{field}")),
                                format!("`{env}` is not an environment variable name (secrets go in the environment, not in this file)"),
                            ));
                        }
                    }
                }
            }
        }
        self.validate_gaps_and_calendars(&invalid)?;
        Ok(())
    }
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}
impl Config {
    fn validate_gaps_and_calendars(
        &self,
        invalid: &impl Fn(String, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let g = &self.gaps;
        for (key, value) in [
            ("gaps.failed_within_hours", g.failed_within_hours),
            ("gaps.behind_days", g.behind_days),
            ("gaps.empty_hours_lookback", g.empty_hours_lookback),
            ("gaps.recovery_chunk_days", g.recovery_chunk_days),
        ] {
            if value == 0 {
                return Err(invalid(key.into(), "must be greater than 0".into()));
            }
        }
        if g.critical_days < g.behind_days {
            return Err(invalid(
                "gaps.critical_days".into(),
                format!("must be at least behind_days ({})", g.behind_days),
            ));
        }
        validate_calendar(&self.calendar, "calendar", invalid)?;
        if self.calendar.opened_on.is_some() {
            return Err(invalid(
                "calendar.opened_on".into(),
                "an opening date belongs to one store: put it in [stores.calendar]".into(),
            ));
        }
        for (i, store) in self.stores.iter().enumerate() {
            if let Some(c) = &store.calendar {
                validate_calendar(c, &format!("stores[{i}].calendar"), invalid)?;
            }
            // The hours a store ends up with: its own, else the chain's, else the schedule's.
            let own = store.calendar.as_ref();
            let pick = |f: fn(&CalendarConfig) -> Option<u32>| {
                own.and_then(f).or_else(|| f(&self.calendar))
            };
            let opening = pick(|c| c.opening_hour).unwrap_or(self.schedule.opening_hour);
            let closing = pick(|c| c.closing_hour).unwrap_or(self.schedule.closing_hour);
            if closing <= opening {
                let key = if own.is_some_and(|c| c.closing_hour.is_some()) {
                    format!("stores[{i}].calendar.closing_hour")
                } else {
                    format!("stores[{i}].calendar.opening_hour")
                };
                return Err(invalid(
                    key,
                    format!(
                        "store `{}` would close (at {closing}) before it opens (at {opening})",
                        store.id
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn validate_calendar(
    c: &CalendarConfig,
    prefix: &str,
    invalid: &impl Fn(String, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let key = |field: &str| format!("{prefix}.{field}");
    if c.open_days.as_ref().is_some_and(Vec::is_empty) {
        return Err(invalid(
            key("open_days"),
            "must name at least one day (make the store inactive instead)".into(),
        ));
    }
    let check = |opening: Option<u32>, closing: Option<u32>, k: &str| {
        if let Some(h) = opening.filter(|h| *h > 23) {
            return Err(invalid(
                key(&format!("{k}opening_hour")),
                format!("hour {h} is not in 0..=23"),
            ));
        }
        if let Some(h) = closing {
            if h == 0 || h > 24 || opening.is_some_and(|o| h <= o) {
                return Err(invalid(
                    key(&format!("{k}closing_hour")),
                    format!("hour {h} must be in 1..=24 and after opening_hour"),
                ));
            }
        }
        Ok(())
    };
    check(c.opening_hour, c.closing_hour, "")?;
    for (i, h) in c.hours.iter().enumerate() {
        if h.days.is_empty() {
            return Err(invalid(
                key(&format!("hours[{i}].days")),
                "must name at least one day".into(),
            ));
        }
        check(
            Some(h.opening_hour),
            Some(h.closing_hour),
            &format!("hours[{i}]."),
        )?;
    }
    for (i, closure) in c.closures.iter().enumerate() {
        if closure.to < closure.from {
            return Err(invalid(
                key(&format!("closures[{i}].to")),
                format!("{} is before from ({})", closure.to, closure.from),
            ));
        }
    }
    Ok(())
}
