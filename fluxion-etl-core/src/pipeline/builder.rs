//! Builders with defaults for the runner and its inputs: [`Runner::builder`],
//! [`StoreTask::new`], [`LoadUnit::sales`] and [`LoadUnit::inventory`].

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{
    Extractor, Identity, LoadScope, LoadUnit, Loader, Runner, RunnerOptions, StoreTask, Transformer,
};
use crate::model::{StoreId, Window};
use crate::tracker::StoreRef;

impl Runner {
    /// Starts building a runner that loads into `loader`, with the defaults: no transformation
    /// ([`Identity`]) and [`RunnerOptions::default`] (4 stores at once, 2 batches ahead).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use fluxion_etl_core::pipeline::{FnTransformer, Loader, Runner, RunnerOptions};
    /// # use fluxion_etl_core::{pipeline::{LoadSession, LoadUnit}, EtlError};
    /// # struct Nowhere;
    /// # #[async_trait::async_trait]
    /// # impl Loader for Nowhere {
    /// #     async fn begin(&self, _: &LoadUnit) -> Result<Box<dyn LoadSession>, EtlError> {
    /// #         unreachable!("the runner is only built")
    /// #     }
    /// # }
    /// # let loader: Arc<dyn Loader> = Arc::new(Nowhere);
    ///
    /// let runner = Runner::builder(loader)
    ///     .transformer(FnTransformer::new(Ok))
    ///     .max_workers(8)
    ///     .build();
    /// assert_eq!(runner.options(), RunnerOptions { max_workers: 8, channel_capacity: 2 });
    /// ```
    pub fn builder(loader: Arc<dyn Loader>) -> RunnerBuilder {
        RunnerBuilder {
            options: RunnerOptions::default(),
            transformer: Arc::new(Identity),
            loader,
        }
    }
}

/// Builds a [`Runner`]; see [`Runner::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct RunnerBuilder {
    options: RunnerOptions,
    transformer: Arc<dyn Transformer>,
    loader: Arc<dyn Loader>,
}

impl std::fmt::Debug for RunnerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunnerBuilder")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl RunnerBuilder {
    /// The transformer applied to every batch (none by default).
    pub fn transformer(mut self, transformer: impl Transformer + 'static) -> Self {
        self.transformer = Arc::new(transformer);
        self
    }

    /// A transformer already shared with other runners.
    pub fn shared_transformer(mut self, transformer: Arc<dyn Transformer>) -> Self {
        self.transformer = transformer;
        self
    }

    /// Stores processed at once (4 by default; at least 1).
    pub fn max_workers(mut self, n: usize) -> Self {
        self.options.max_workers = n;
        self
    }

    /// Batches an extractor may run ahead of its loader (2 by default; at least 1).
    pub fn channel_capacity(mut self, n: usize) -> Self {
        self.options.channel_capacity = n;
        self
    }

    /// Both scheduling options at once.
    pub fn options(mut self, options: RunnerOptions) -> Self {
        self.options = options;
        self
    }

    /// The runner.
    pub fn build(self) -> Runner {
        Runner::new(self.options, self.transformer, self.loader)
    }
}

impl LoadUnit {
    /// Every sales line of `store` in `window`.
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use fluxion_etl_core::model::{DataKind, Window};
    /// use fluxion_etl_core::pipeline::LoadUnit;
    ///
    /// let day = Window::day(NaiveDate::from_ymd_opt(2025, 11, 17).unwrap()).unwrap();
    /// let unit = LoadUnit::sales("tienda_01", day);
    /// assert_eq!(unit.kind(), DataKind::Sales);
    /// ```
    pub fn sales(store: impl Into<StoreId>, window: Window) -> Self {
        Self {
            store: store.into(),
            scope: LoadScope::SalesWindow(window),
        }
    }

    /// The snapshot of `store`'s `warehouse` taken at `taken_at`, appended to
    /// `inventory_history` as well.
    pub fn inventory(
        store: impl Into<StoreId>,
        warehouse: impl Into<String>,
        taken_at: DateTime<Utc>,
    ) -> Self {
        Self {
            store: store.into(),
            scope: LoadScope::InventorySnapshot {
                warehouse: warehouse.into(),
                taken_at,
                keep_history: true,
            },
        }
    }
}

impl StoreTask {
    /// One store's work: the store as the tracker names it, the unit its load replaces and the
    /// extractor its records come from.
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use fluxion_etl_core::model::Window;
    /// use fluxion_etl_core::pipeline::{LoadUnit, StoreTask};
    /// use fluxion_etl_core::sources::Failing;
    /// use fluxion_etl_core::tracker::StoreRef;
    ///
    /// let day = Window::day(NaiveDate::from_ymd_opt(2025, 11, 17).unwrap()).unwrap();
    /// let task = StoreTask::new(
    ///     StoreRef::new("tienda_01"),
    ///     LoadUnit::sales("tienda_01", day),
    ///     Failing(None), // an extractor that yields nothing
    /// );
    /// assert_eq!(task.store.id, task.unit.store);
    /// ```
    pub fn new(store: StoreRef, unit: LoadUnit, extractor: impl Extractor + 'static) -> Self {
        Self {
            store,
            unit,
            extractor: Box::new(extractor),
        }
    }
}
