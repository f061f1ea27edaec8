//! Gaps: what is missing from the destination, per store and data kind, and what to run to
//! fill it (seeds 000 and 001).
//!
//! Three views of "missing":
//! - **failed windows not yet recovered** ([`FailedWindow`]): a store's window that failed in
//!   the last `[gaps] failed_within_hours` (168) and that no later success of the same store and
//!   kind has covered since. Its [`gap_id`](FailedWindow::gap_id) is the failed execution, the
//!   `recovered_gap_id` a recovery execution records;
//! - **coverage** ([`StoreGaps`]): records, the last day with data, days behind, completeness
//!   (days with data / days expected since `[gaps] coverage_start`), the missing days as
//!   ranges, a status badge and the recommendations *update* (day after the last one →
//!   yesterday) and *recover* (the historic missing ranges);
//! - **hours with no sales** ([`EmptyHour`]) inside opening hours over the last
//!   `[gaps] empty_hours_lookback` hours, for incremental feeds.
//!
//! Days and hours the [store calendar](StoreCalendar) says are closed are expected to be empty
//! and never reported. Every computation takes `now` from the [`GapQuery`], so the same history
//! always gives the same report; the queries go through [`GapStore`], which both destinations
//! implement, and the arithmetic is done once, here, for both.
//!
//! Coverage counts come from the per-day count tables `sales_daily_counts` (sales lines per
//! store and business date) and `inventory_daily_counts` (inventory history rows per store and
//! store-local day of the snapshot), one row per store and day, so a report costs the same on
//! a year of history as on a week. Migration 0004 creates them, backfills them from the data
//! already there and installs the triggers that keep them exact in the transaction of every
//! write to `sales_lines` / `inventory_history` (loads, fast paths, hand-made fixes; a
//! rolled-back load leaves them as they were).
//!
//! The report serializes to the JSON of `GET /api/ventas/gaps` (Spanish field names, as the
//! chain's panel reads them):
//!
//! ```no_run
//! use fluxion_etl_core::{Fluxion, config::Config, gaps::GapQuery};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let fluxion = Fluxion::open_readonly(Config::load("fluxion.toml".as_ref())?).await?;
//! let report = fluxion.gaps(&GapQuery::sales(chrono::Utc::now())).await?;
//! for store in &report.tiendas {
//!     println!(
//!         "{} last {:?}, {:?} days behind, {}% complete, {} failed windows",
//!         store.ubicacion_id,
//!         store.ultima_fecha,
//!         store.dias_atraso,
//!         store.completitud_pct,
//!         store.fallos_por_recuperar.len()
//!     );
//! }
//! println!("{}", serde_json::to_string_pretty(&report)?);
//! # Ok(()) }
//! ```

mod calendar;
mod compute;

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

pub use calendar::StoreCalendar;
pub use compute::{coverage, empty_hours, failed_windows, Coverage};

use crate::config::Config;
use crate::error::Result;
use crate::model::{utc_to_local, DataKind, SourceSystem, StoreId, Window};
use crate::taxonomy::{ErrorCategory, Phase};

/// What to analyze.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapQuery {
    /// The present: failures are aged, "yesterday" and the recent hours are taken from it.
    pub now: DateTime<Utc>,
    /// Sales or inventory.
    pub kind: DataKind,
    /// These stores (active or not); `None`: every active store.
    pub stores: Option<Vec<StoreId>>,
    /// Overrides `[gaps] failed_within_hours`.
    pub failed_within_hours: Option<u32>,
}

impl GapQuery {
    /// Sales gaps of every active store as of `now`.
    pub fn sales(now: DateTime<Utc>) -> Self {
        Self::new(DataKind::Sales, now)
    }

    /// Gaps of one kind for every active store as of `now`.
    pub fn new(kind: DataKind, now: DateTime<Utc>) -> Self {
        Self {
            now,
            kind,
            stores: None,
            failed_within_hours: None,
        }
    }

    /// Restricts the query to some stores.
    pub fn with_stores(mut self, stores: Vec<StoreId>) -> Self {
        self.stores = Some(stores);
        self
    }
}

/// A store's coverage badge (seed 000: 🟢 / 🟠 Actualizar / 🔴 Crítico).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CoverageStatus {
    /// Fewer than `[gaps] behind_days` open days behind.
    #[serde(rename = "al_dia")]
    UpToDate,
    /// Behind: needs an update.
    #[serde(rename = "actualizar")]
    Behind,
    /// At least `[gaps] critical_days` open days behind, or no data at all.
    #[serde(rename = "critico")]
    Critical,
}

impl CoverageStatus {
    /// The serialized value.
    pub fn as_str(self) -> &'static str {
        match self {
            CoverageStatus::UpToDate => "al_dia",
            CoverageStatus::Behind => "actualizar",
            CoverageStatus::Critical => "critico",
        }
    }
}

impl std::fmt::Display for CoverageStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Consecutive missing days (closed days between them do not split a range).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DayRange {
    /// First missing day.
    pub desde: NaiveDate,
    /// Last missing day.
    pub hasta: NaiveDate,
    /// Open days without data in the range.
    pub dias: u32,
}

/// Dates to run (seed 000's "Actualizar" and "Recuperar" buttons fill them in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Recommendation {
    /// First day.
    pub fecha_inicio: NaiveDate,
    /// Last day (included).
    pub fecha_fin: NaiveDate,
    /// Open days without data in it.
    pub dias: u32,
}

/// What to run for a store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommendations {
    /// From the day after the last one with data through yesterday, when behind.
    pub actualizar: Option<Recommendation>,
    /// The historic missing ranges (before the last day with data), newest first.
    pub recuperar: Vec<Recommendation>,
}

/// A failed window not yet recovered (seed 001's `v_gaps_por_recuperar`).
///
/// Repeated failures of the same store and window (a retry, a recovery that failed again) are
/// one gap: its id is the first failed execution, `intentos` counts the failures, and the error
/// is the latest one's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedWindow {
    /// The gap's id: the first failed execution (what `recovered_gap_id` points at).
    pub gap_id: i64,
    /// The failed store detail, when one was recorded (a run killed mid-way leaves none).
    pub detail_id: Option<i64>,
    /// `ventas` or `inventario`.
    pub etl_tipo: DataKind,
    /// Store id.
    pub ubicacion_id: StoreId,
    /// Store name.
    pub ubicacion_nombre: Option<String>,
    /// First day of the window (store-local); `None` for inventory.
    pub fecha_desde: Option<NaiveDate>,
    /// Last day of the window (store-local, included).
    pub fecha_hasta: Option<NaiveDate>,
    /// Start time when the window is not whole days (incremental runs).
    pub hora_desde: Option<NaiveTime>,
    /// End time (excluded) when the window is not whole days.
    pub hora_hasta: Option<NaiveTime>,
    /// Window start (UTC).
    pub ventana_desde: Option<DateTime<Utc>>,
    /// Window end (UTC, excluded).
    pub ventana_hasta: Option<DateTime<Utc>>,
    /// When it (last) failed.
    pub fecha_fallo: DateTime<Utc>,
    /// Phase of the (last) failure.
    pub error_fase: Option<Phase>,
    /// Category of the (last) failure (seed 001's `error_tipo`).
    pub error_tipo: Option<ErrorCategory>,
    /// Sanitized message of the (last) failure.
    pub error_mensaje: Option<String>,
    /// Hours since the (last) failure, two decimals.
    pub horas_desde_fallo: f64,
    /// Failures of this store and window within the period.
    pub intentos: u32,
}

impl FailedWindow {
    /// The window to run again (store-local), `None` for inventory.
    pub fn window(&self) -> Option<Window> {
        Window::new(
            utc_to_local(self.ventana_desde?),
            utc_to_local(self.ventana_hasta?),
        )
    }
}

/// An hour inside opening hours with no sales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EmptyHour {
    /// Store-local day.
    pub fecha: NaiveDate,
    /// Store-local hour (0–23) the empty hour starts.
    pub hora: u32,
    /// Start (UTC).
    pub desde: DateTime<Utc>,
    /// End (UTC, excluded).
    pub hasta: DateTime<Utc>,
}

/// One store's gaps: a row of seed 000's gaps table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreGaps {
    /// Store id.
    pub ubicacion_id: StoreId,
    /// Store name.
    pub ubicacion_nombre: String,
    /// `klk` or `stellar`.
    pub sistema: SourceSystem,
    /// Whether scheduled runs include it.
    pub activa: bool,
    /// Records in the destination (sales lines; inventory history rows).
    pub total_registros: i64,
    /// First day with data.
    pub primera_fecha: Option<NaiveDate>,
    /// Last day with data (seed 000's "Última").
    pub ultima_fecha: Option<NaiveDate>,
    /// Open days from the day after the last one through yesterday (seed 000's "Atraso");
    /// `None` when there is no data and no start to count from.
    pub dias_atraso: Option<u32>,
    /// First day expected (the later of `coverage_start` and the store's `opened_on`, else its
    /// first day with data).
    pub fecha_inicio: Option<NaiveDate>,
    /// Open days from `fecha_inicio` through yesterday.
    pub dias_esperados: u32,
    /// Of those, days with data.
    pub dias_con_datos: u32,
    /// `dias_con_datos / dias_esperados × 100`, two decimals (100 when nothing is expected).
    pub completitud_pct: f64,
    /// The badge.
    pub estado: CoverageStatus,
    /// Whether there are missing days before the last day with data.
    pub tiene_gaps_historicos: bool,
    /// Every missing range, newest first.
    pub dias_faltantes: Vec<DayRange>,
    /// What to run.
    pub recomendaciones: Recommendations,
    /// Failed windows not yet recovered, newest failure first.
    pub fallos_por_recuperar: Vec<FailedWindow>,
    /// Opening hours of the recent past with no sales (sales only), oldest first.
    pub horas_sin_ventas: Vec<EmptyHour>,
}

/// Counts over the stores of a report (seed 000's "Total / Desact. / Con Gaps").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapSummary {
    /// Stores in the report.
    pub total_tiendas: u32,
    /// Stores up to date.
    pub al_dia: u32,
    /// Stores behind or critical.
    pub desactualizadas: u32,
    /// Stores critical.
    pub criticas: u32,
    /// Stores with historic missing days.
    pub con_gaps_historicos: u32,
    /// Stores with failed windows not yet recovered.
    pub con_fallos: u32,
    /// Failed windows not yet recovered, over all stores.
    pub fallos_por_recuperar: u32,
    /// Empty opening hours, over all stores.
    pub horas_sin_ventas: u32,
}

/// `GET /api/ventas/gaps`: every store's gaps as of a moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GapReport {
    /// The `now` of the query.
    pub generado_en: DateTime<Utc>,
    /// `ventas` or `inventario`.
    pub etl_tipo: DataKind,
    /// Store-local today; "yesterday" is the day before.
    pub fecha_referencia: NaiveDate,
    /// Failures older than this many hours are not reported.
    pub horas_ventana_fallos: u32,
    /// Counts.
    pub resumen: GapSummary,
    /// One entry per store, in configuration order.
    pub tiendas: Vec<StoreGaps>,
}

impl GapReport {
    /// A store's entry.
    pub fn store(&self, id: &str) -> Option<&StoreGaps> {
        self.tiendas.iter().find(|s| s.ubicacion_id.as_str() == id)
    }

    /// Every failed window not yet recovered, over all stores.
    pub fn failed_windows(&self) -> impl Iterator<Item = &FailedWindow> {
        self.tiendas
            .iter()
            .flat_map(|s| s.fallos_por_recuperar.iter())
    }
}

/// One store's attempt at a window, as the tracker recorded it: a success or a failure.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// The execution.
    pub execution_id: i64,
    /// The store detail (`None`: the execution closed without one for this store, e.g. killed).
    pub detail_id: Option<i64>,
    /// The store.
    pub store_id: StoreId,
    /// Its name.
    pub store_name: Option<String>,
    /// Whether it succeeded (else it failed).
    pub succeeded: bool,
    /// Window start (UTC); `None` for inventory.
    pub window_from: Option<DateTime<Utc>>,
    /// Window end (UTC, excluded).
    pub window_to: Option<DateTime<Utc>>,
    /// When the store (or the execution) started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Phase of the failure.
    pub error_phase: Option<Phase>,
    /// Category of the failure.
    pub error_category: Option<ErrorCategory>,
    /// Message of the failure.
    pub error_message: Option<String>,
}

impl Attempt {
    /// When the attempt ended (its start when it never recorded an end).
    pub fn ended_at(&self) -> DateTime<Utc> {
        self.finished_at.unwrap_or(self.started_at)
    }
}

/// Records of one store on one store-local day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCount {
    /// The store.
    pub store_id: StoreId,
    /// The day.
    pub day: NaiveDate,
    /// Records.
    pub records: i64,
}

/// Sales lines of one store in one hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourCount {
    /// The store.
    pub store_id: StoreId,
    /// Start of the hour (UTC).
    pub hour: DateTime<Utc>,
    /// Lines.
    pub records: i64,
}

/// The queries gap detection needs, implemented by each destination.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait GapStore: Send + Sync {
    /// Store results of `kind` — successes and failures, plus the stores of a closed, failed
    /// or partial execution that recorded no detail for them — that ended in
    /// `[since, until]`.
    async fn attempts(
        &self,
        kind: DataKind,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<Attempt>>;
    /// Records per store and store-local day, over all time (sales by business date,
    /// inventory by the day of each history snapshot), with no day of zero records. Read from
    /// the per-day count tables, not by counting the data tables.
    async fn daily_counts(&self, kind: DataKind) -> Result<Vec<DayCount>>;
    /// Sales lines per store and hour sold in `[from, to)`.
    async fn hourly_sales(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<HourCount>>;
}

/// Computes the gap report of `query` from what `store` holds.
pub async fn analyze(store: &dyn GapStore, config: &Config, query: &GapQuery) -> Result<GapReport> {
    analyze_parts(store, config, query, true).await
}

/// [`analyze`], with the coverage and the empty hours left out (zeroed) unless `coverage`: what
/// a recovery of failed windows needs, without reading every day of every store.
pub(crate) async fn analyze_parts(
    store: &dyn GapStore,
    config: &Config,
    query: &GapQuery,
    coverage_too: bool,
) -> Result<GapReport> {
    let stores: Vec<&crate::config::StoreConfig> = match &query.stores {
        None => config.active_stores().collect(),
        Some(ids) => config.stores_named(ids)?,
    };
    let hours = query
        .failed_within_hours
        .unwrap_or(config.gaps.failed_within_hours);
    let now = query.now;
    let today = utc_to_local(now).date();

    // Successes up to a day before the period still matter: a failure that ended inside it
    // started before it, and a success that ended after that start covers it.
    let since = now - chrono::Duration::hours(i64::from(hours));
    let attempts = store
        .attempts(query.kind, since - chrono::Duration::days(1), now)
        .await?;
    let failed = failed_windows(&attempts, query.kind, now, hours);

    let mut days: BTreeMap<&str, BTreeMap<NaiveDate, i64>> = BTreeMap::new();
    let counts = if coverage_too {
        store.daily_counts(query.kind).await?
    } else {
        Vec::new()
    };
    for c in &counts {
        days.entry(c.store_id.as_str())
            .or_default()
            .insert(c.day, c.records);
    }

    let lookback = config.gaps.empty_hours_lookback;
    let mut sold: BTreeMap<&str, BTreeSet<DateTime<Utc>>> = BTreeMap::new();
    let hourly;
    if query.kind == DataKind::Sales && coverage_too {
        let end = compute::floor_hour(now);
        hourly = store
            .hourly_sales(end - chrono::Duration::hours(i64::from(lookback)), end)
            .await?;
        for h in &hourly {
            if h.records > 0 {
                sold.entry(h.store_id.as_str()).or_default().insert(h.hour);
            }
        }
    }

    let empty_days = BTreeMap::new();
    let empty_hours_set = BTreeSet::new();
    let mut summary = GapSummary::default();
    let mut tiendas = Vec::with_capacity(stores.len());
    for s in stores {
        let calendar = StoreCalendar::for_store(config, s);
        let store_days = days.get(s.id.as_str()).unwrap_or(&empty_days);
        let cov = coverage(
            &calendar,
            store_days,
            today,
            config.gaps.coverage_start,
            &config.gaps,
        );
        let mut fallos: Vec<FailedWindow> = failed
            .iter()
            .filter(|f| f.ubicacion_id == s.id)
            .cloned()
            .map(|mut f| {
                f.ubicacion_nombre.get_or_insert_with(|| s.name.clone());
                f
            })
            .collect();
        fallos.sort_by_key(|f| std::cmp::Reverse(f.fecha_fallo));
        let horas = if query.kind == DataKind::Sales && coverage_too {
            empty_hours(
                &calendar,
                sold.get(s.id.as_str()).unwrap_or(&empty_hours_set),
                now,
                lookback,
            )
        } else {
            Vec::new()
        };

        summary.total_tiendas += 1;
        match cov.status {
            CoverageStatus::UpToDate => summary.al_dia += 1,
            CoverageStatus::Behind => summary.desactualizadas += 1,
            CoverageStatus::Critical => {
                summary.desactualizadas += 1;
                summary.criticas += 1;
            }
        }
        let historic = !cov.recommendations.recuperar.is_empty();
        summary.con_gaps_historicos += u32::from(historic);
        summary.con_fallos += u32::from(!fallos.is_empty());
        summary.fallos_por_recuperar += fallos.len() as u32;
        summary.horas_sin_ventas += horas.len() as u32;

        tiendas.push(StoreGaps {
            ubicacion_id: s.id.clone(),
            ubicacion_nombre: s.name.clone(),
            sistema: s.system(),
            activa: s.active,
            total_registros: cov.records,
            primera_fecha: cov.first_day,
            ultima_fecha: cov.last_day,
            dias_atraso: cov.days_behind,
            fecha_inicio: cov.start,
            dias_esperados: cov.expected_days,
            dias_con_datos: cov.days_with_data,
            completitud_pct: cov.completeness_pct,
            estado: cov.status,
            tiene_gaps_historicos: historic,
            dias_faltantes: cov.missing,
            recomendaciones: cov.recommendations,
            fallos_por_recuperar: fallos,
            horas_sin_ventas: horas,
        });
    }
    Ok(GapReport {
        generado_en: now,
        etl_tipo: query.kind,
        fecha_referencia: today,
        horas_ventana_fallos: hours,
        resumen: summary,
        tiendas,
    })
}
