//! Scrape relay (in progress).
