//! Builders with defaults for the tracker's inputs: [`NewExecution::builder`] (an execution has
//! thirteen fields, most of which a program that opens one by hand leaves at their default) and
//! [`StoreRef::new`].

use chrono::{DateTime, Utc};

use super::{NewExecution, RunMode, StoreRef, TriggeredBy};
use crate::model::{DataKind, SourceSystem, StoreId, Window};

/// The name of the host this process runs on (`HOSTNAME`, else `/etc/hostname`), as executions
/// record it.
pub(crate) fn hostname() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

impl NewExecution {
    /// Starts building an execution of `kind` with the defaults of a manual run: `etl_type`
    /// `manual`, mode [`RunMode::Full`], `triggered_by` detected from the environment
    /// ([`TriggeredBy::detect`]), started now, no window, no stores, this host and this
    /// library's version.
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use fluxion_etl_core::model::{DataKind, Window};
    /// use fluxion_etl_core::tracker::{NewExecution, RunMode, TriggeredBy};
    ///
    /// let day = Window::day(NaiveDate::from_ymd_opt(2025, 11, 17).unwrap()).unwrap();
    /// let spec = NewExecution::builder(DataKind::Sales)
    ///     .window(day)
    ///     .stores(["tienda_01", "tienda_02"])
    ///     .triggered_by(TriggeredBy::Cli)
    ///     .build();
    /// assert_eq!(spec.etl_type, "manual");
    /// assert_eq!(spec.mode, RunMode::Full);
    /// assert_eq!(spec.tiendas.len(), 2);
    /// assert_eq!(spec.fecha_desde, Some(day.from_utc()));
    ///
    /// // A recovery of the gap left by execution 41.
    /// let retry = NewExecution::builder(DataKind::Sales).window(day).recovering(41).build();
    /// assert!(retry.is_recovery);
    /// assert_eq!((retry.mode, retry.etl_type.as_str()), (RunMode::Recovery, "recovery"));
    /// assert_eq!(retry.recovered_gap_id, Some(41));
    /// ```
    pub fn builder(kind: DataKind) -> NewExecutionBuilder {
        NewExecutionBuilder {
            spec: NewExecution {
                etl_name: kind,
                etl_type: "manual".to_owned(),
                mode: RunMode::Full,
                triggered_by: TriggeredBy::detect(),
                started_at: Utc::now(),
                fecha_desde: None,
                fecha_hasta: None,
                tiendas: Vec::new(),
                source_system: None,
                is_recovery: false,
                recovered_gap_id: None,
                host: hostname(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
        }
    }
}

/// Builds a [`NewExecution`]; see [`NewExecution::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct NewExecutionBuilder {
    spec: NewExecution,
}

impl NewExecutionBuilder {
    /// `scheduled`, `manual` (the default) or `recovery`.
    pub fn etl_type(mut self, etl_type: impl Into<String>) -> Self {
        self.spec.etl_type = etl_type.into();
        self
    }

    /// Full (the default), incremental or recovery; `is_recovery` follows the mode.
    pub fn mode(mut self, mode: RunMode) -> Self {
        self.spec.mode = mode;
        self.spec.is_recovery = mode == RunMode::Recovery;
        self
    }

    /// Who started the execution (detected from the environment by default).
    pub fn triggered_by(mut self, by: TriggeredBy) -> Self {
        self.spec.triggered_by = by;
        self
    }

    /// When the execution started (now by default).
    pub fn started_at(mut self, at: DateTime<Utc>) -> Self {
        self.spec.started_at = at;
        self
    }

    /// The sales window the execution covers (recorded in UTC).
    pub fn window(mut self, window: Window) -> Self {
        self.spec.fecha_desde = Some(window.from_utc());
        self.spec.fecha_hasta = Some(window.to_utc());
        self
    }

    /// The stores the execution covers (replacing any set before).
    pub fn stores<I, S>(mut self, stores: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<StoreId>,
    {
        self.spec.tiendas = stores.into_iter().map(Into::into).collect();
        self
    }

    /// Adds one store.
    pub fn store(mut self, store: impl Into<StoreId>) -> Self {
        self.spec.tiendas.push(store.into());
        self
    }

    /// The source system recorded with the execution (`klk`, `stellar`, `mixed`, or your own).
    pub fn source_system(mut self, system: impl Into<String>) -> Self {
        self.spec.source_system = Some(system.into());
        self
    }

    /// Marks the execution as the recovery of the gap left by failed execution `gap_id`:
    /// mode [`RunMode::Recovery`], `etl_type` `recovery`, `is_recovery`.
    pub fn recovering(mut self, gap_id: i64) -> Self {
        self.spec.mode = RunMode::Recovery;
        self.spec.etl_type = "recovery".to_owned();
        self.spec.is_recovery = true;
        self.spec.recovered_gap_id = Some(gap_id);
        self
    }

    /// The host recorded with the execution (this machine's name by default).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.spec.host = Some(host.into());
        self
    }

    /// The version recorded with the execution (this library's by default; a program that
    /// embeds it may record its own).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.spec.version = version.into();
        self
    }

    /// The execution, ready for
    /// [`ExecutionTracker::start_execution`](super::ExecutionTracker::start_execution).
    pub fn build(self) -> NewExecution {
        self.spec
    }
}

impl From<NewExecutionBuilder> for NewExecution {
    fn from(builder: NewExecutionBuilder) -> Self {
        builder.build()
    }
}

impl StoreRef {
    /// A store known by its id only (no name, no source system).
    ///
    /// ```
    /// use fluxion_etl_core::model::SourceSystem;
    /// use fluxion_etl_core::tracker::StoreRef;
    ///
    /// let store = StoreRef::new("tienda_01").named("PERIFERICO").on(SourceSystem::Klk);
    /// assert_eq!(store.id.as_str(), "tienda_01");
    /// assert_eq!(store.name.as_deref(), Some("PERIFERICO"));
    /// assert_eq!(store.system, Some(SourceSystem::Klk));
    /// ```
    pub fn new(id: impl Into<StoreId>) -> Self {
        Self {
            id: id.into(),
            name: None,
            system: None,
        }
    }

    /// With the store's name.
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// With the store's source system.
    #[must_use]
    pub fn on(mut self, system: SourceSystem) -> Self {
        self.system = Some(system);
        self
    }
}
