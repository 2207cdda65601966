//! Scraped samples into the store: the scrape loops ([`crate::scrape`])
//! hand their rows (samples, report series, stale markers) to a
//! [`Sink`]; the store is that sink, each scrape one [`Batch`].

use super::Batch;
use crate::scrape::{Row, Sink};
use crate::store::Store;

impl Sink for Store {
    fn append(&self, rows: Vec<Row>) -> Result<(), String> {
        Store::append(self, &Batch::from_rows(&rows));
        Ok(())
    }
}
